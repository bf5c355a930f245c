import { Router, type Request, type Response } from 'express';
import type { JobAction, JobsService, SubmitRequest } from '../services/jobs';
import { checkAll, Fields } from '../validation';
import { callerOf } from './auth';
import { DISK_NAME } from './disks';

const HOURS = { min: 1, max: 72 };
/** reservations.reservation_id is varchar(255). */
const JOB_ID = { minLength: 1, maxLength: 255 };
/** GitHub's rule for user names; the processor puts the name in a github.com URL. */
const GITHUB_USERNAME = /^[A-Za-z0-9-]{1,39}$/;

function submitRequest(body: unknown): SubmitRequest {
  const f = new Fields('body', body);
  const request = {
    image: f.requiredString('image', { minLength: 1, maxLength: 1024 }),
    instance_type: f.requiredString('instance_type', { minLength: 1, maxLength: 100 }),
    duration_hours: f.integerOr('duration_hours', 1, HOURS),
    disk_name: f.optionalString('disk_name', { maxLength: 255, pattern: DISK_NAME }),
    disk_size_gb: f.optionalInteger('disk_size_gb', { min: 10, max: 10000 }),
    env_vars: f.optionalStringMap('env_vars') ?? {},
    command: f.optionalString('command', { maxLength: 10000 }),
  };
  f.check();
  return request;
}

function listFilter(query: unknown) {
  const f = new Fields('query', query);
  const status = f.optionalString('status', { maxLength: 1000 });
  const filter = {
    statuses: status
      ? status
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : null,
    limit: f.integerOr('limit', 50, { min: 1, max: 500 }),
    offset: f.integerOr('offset', 0, { min: 0 }),
  };
  f.check();
  return filter;
}

export function jobsRouter(jobs: JobsService): Router {
  /** A POST on one job that queues an action; actions without fields accept an empty body. */
  const action = (read: (body: Fields) => JobAction) => async (req: Request, res: Response) => {
    const path = new Fields('path', req.params);
    const body = new Fields('body', req.body ?? {});
    const jobId = path.requiredString('job_id', JOB_ID);
    const requested = read(body);
    checkAll(path, body);
    res.json(await jobs.request(callerOf(res), jobId, requested));
  };

  return Router()
    .post('/jobs/submit', async (req, res) => {
      res.json(await jobs.submit(callerOf(res), submitRequest(req.body)));
    })
    .get('/jobs', async (req, res) => {
      res.json(await jobs.list(callerOf(res), listFilter(req.query)));
    })
    .get('/jobs/:job_id', async (req, res) => {
      const path = new Fields('path', req.params);
      const jobId = path.requiredString('job_id', JOB_ID);
      path.check();
      res.json(await jobs.get(callerOf(res), jobId));
    })
    .post(
      '/jobs/:job_id/cancel',
      action(() => ({ action: 'cancel' })),
    )
    .post(
      '/jobs/:job_id/extend',
      action((body) => ({ action: 'extend', extension_hours: body.requiredInteger('extension_hours', HOURS) })),
    )
    .post(
      '/jobs/:job_id/jupyter/enable',
      action(() => ({ action: 'enable_jupyter' })),
    )
    .post(
      '/jobs/:job_id/jupyter/disable',
      action(() => ({ action: 'disable_jupyter' })),
    )
    .post(
      '/jobs/:job_id/users',
      action((body) => ({ action: 'add_user', github_username: body.requiredString('github_username', { pattern: GITHUB_USERNAME }) })),
    );
}
