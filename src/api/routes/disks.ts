import { Router, type Request } from 'express';
import type { DisksService } from '../services/disks';
import { Fields } from '../validation';
import { callerOf } from './auth';

/** Disk names as the job processor accepts them (they become EBS tags and pod volume names). */
export const DISK_NAME = /^[A-Za-z0-9_-]+$/;
const DISK_NAME_RULES = { maxLength: 255, pattern: DISK_NAME };
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function diskName(req: Request): string {
  const path = new Fields('path', req.params);
  const name = path.requiredString('disk_name', DISK_NAME_RULES);
  path.check();
  return name;
}

export function disksRouter(disks: DisksService): Router {
  return Router()
    .get('/disks', async (_req, res) => {
      res.json(await disks.list(callerOf(res)));
    })
    .post('/disks', async (req, res) => {
      const body = new Fields('body', req.body);
      const name = body.requiredString('disk_name', DISK_NAME_RULES);
      const sizeGb = body.optionalInteger('size_gb', { min: 10, max: 10000 });
      body.check();
      res.json(await disks.create(callerOf(res), name, sizeGb));
    })
    .get('/disks/:disk_name', async (req, res) => {
      res.json(await disks.get(callerOf(res), diskName(req)));
    })
    .delete('/disks/:disk_name', async (req, res) => {
      res.json(await disks.delete(callerOf(res), diskName(req)));
    })
    .get('/disks/:disk_name/operations/:operation_id', async (req, res) => {
      const path = new Fields('path', req.params);
      const name = path.requiredString('disk_name', DISK_NAME_RULES);
      const operationId = path.requiredString('operation_id', { pattern: UUID });
      path.check();
      res.json(await disks.operation(callerOf(res), name, operationId.toLowerCase()));
    });
}
