import { randomUUID } from 'node:crypto';
import { forbidden, notFound } from '../errors';
import type { Db } from '../repositories/db';
import { sendMessage } from '../repositories/queue';
import { findReservation, listReservations, reservationOwner, type ReservationRow } from '../repositories/reservations';
import type { Caller } from './auth';

export interface SubmitRequest {
  readonly image: string;
  readonly instance_type: string;
  readonly duration_hours: number;
  readonly disk_name: string | null;
  readonly disk_size_gb: number | null;
  readonly env_vars: Record<string, string>;
  readonly command: string | null;
}

/** Actions on a reservation that the job processor carries out, and what each asks for. */
export type JobAction =
  | { readonly action: 'cancel' }
  | { readonly action: 'extend'; readonly extension_hours: number }
  | { readonly action: 'enable_jupyter' }
  | { readonly action: 'disable_jupyter' }
  | { readonly action: 'add_user'; readonly github_username: string };

/** A reservation as clients see it; job_id is the reservation id. */
function jobView(row: ReservationRow) {
  return {
    job_id: row.reservation_id,
    reservation_id: row.reservation_id,
    user_id: row.user_id,
    status: row.status,
    gpu_type: row.gpu_type,
    gpu_count: row.gpu_count,
    instance_type: row.instance_type,
    duration_hours: row.duration_hours,
    created_at: row.created_at,
    expires_at: row.expires_at,
    name: row.name,
    pod_name: row.pod_name,
    node_ip: row.node_ip,
    node_port: row.node_port,
    // Only a running pod can be reached; a stale command of an ended reservation would mislead.
    ssh_command: row.status === 'active' && row.pod_name ? row.ssh_command : null,
    jupyter_enabled: row.jupyter_enabled ?? false,
    jupyter_url: row.jupyter_url,
    jupyter_port: row.jupyter_port,
    jupyter_token: row.jupyter_token,
    jupyter_error: row.jupyter_error,
    github_user: row.github_user,
  };
}

function describeAction(action: JobAction): string {
  switch (action.action) {
    case 'cancel':
      return 'Cancellation request submitted';
    case 'extend':
      return `Extension request submitted for ${action.extension_hours} hours`;
    case 'enable_jupyter':
      return 'Jupyter enable request submitted';
    case 'disable_jupyter':
      return 'Jupyter disable request submitted';
    case 'add_user':
      return `Add user request submitted for GitHub user '${action.github_username}'`;
  }
}

/**
 * Reservations are owned by username: the job processor writes the `user_id` of the message
 * (the username) into reservations.user_id.
 */
export function jobsService(deps: { db: Db; queueName: string }) {
  return {
    async submit(caller: Caller, request: SubmitRequest) {
      const jobId = randomUUID();
      const msgId = await sendMessage(deps.db, deps.queueName, {
        job_id: jobId,
        user_id: caller.username,
        username: caller.username,
        image: request.image,
        instance_type: request.instance_type,
        duration_hours: request.duration_hours,
        disk_name: request.disk_name,
        disk_size_gb: request.disk_size_gb,
        env_vars: request.env_vars,
        command: request.command,
        submitted_at: new Date().toISOString(),
        status: 'queued',
      });
      return {
        job_id: jobId,
        status: 'queued',
        message: `Job submitted to queue ${deps.queueName} (message ID: ${msgId})`,
        estimated_start_time: null,
      };
    },

    async list(caller: Caller, filter: { statuses: readonly string[] | null; limit: number; offset: number }) {
      const { rows, total } = await listReservations(deps.db, caller.username, filter);
      return { jobs: rows.map(jobView), total, limit: filter.limit, offset: filter.offset };
    },

    async get(caller: Caller, jobId: string) {
      const row = await findReservation(deps.db, jobId);
      if (!row) throw notFound(`Job ${jobId} not found`);
      if (row.user_id !== caller.username) throw forbidden('You can only view your own jobs');
      return jobView(row);
    },

    /**
     * Queues an action. A reservation that does not exist yet may still be queued (the
     * processor has not written it), so only someone else's existing reservation is refused.
     */
    async request(caller: Caller, jobId: string, action: JobAction) {
      const owner = await reservationOwner(deps.db, jobId);
      if (owner !== undefined && owner !== caller.username) throw forbidden('Not authorized to modify this job');
      const msgId = await sendMessage(deps.db, deps.queueName, {
        ...action,
        job_id: jobId,
        // The platform's job processor reads reservation_id; its API sent both.
        reservation_id: jobId,
        user_id: caller.username,
        username: caller.username,
        requested_at: new Date().toISOString(),
      });
      return { job_id: jobId, action: action.action, status: 'requested', message: `${describeAction(action)} (message ID: ${msgId})` };
    },
  };
}

export type JobsService = ReturnType<typeof jobsService>;
