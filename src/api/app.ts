import express, { Router, type Express } from 'express';
import type { Pool } from 'pg';
import type { ApiConfig } from './config';
import { bodyGuard, errorHandler, notFound, requestContext, urlGuard, type Lifecycle } from './http';
import type { ApiLogger } from './log';
import { requireCaller } from './routes/auth';
import { capacityRouter } from './routes/capacity';
import { disksRouter } from './routes/disks';
import { healthRouter } from './routes/health';
import { jobsRouter } from './routes/jobs';
import { keysRouter } from './routes/keys';
import { requestDb } from './repositories/db';
import { authService } from './services/auth';
import { capacityService } from './services/capacity';
import { disksService } from './services/disks';
import { jobsService } from './services/jobs';

export interface AppDeps {
  readonly config: ApiConfig;
  readonly pool: Pool;
  readonly log: ApiLogger;
  readonly lifecycle: Lifecycle;
}

/** The Express app over injected dependencies: no state outside them. */
export function createApp({ config, pool, log, lifecycle }: AppDeps): Express {
  const db = requestDb(pool);
  const auth = authService({ db, keyPolicy: config });
  // Authentication comes before body parsing: a caller without a valid key gets nothing parsed.
  const v1 = Router()
    .use(requireCaller(auth))
    .use(express.json({ limit: config.bodyLimitBytes }), bodyGuard)
    .use(
      keysRouter(auth),
      jobsRouter(jobsService({ db, queueName: config.queueName })),
      capacityRouter(capacityService({ db })),
      disksRouter(disksService({ db, diskQueueName: config.diskQueueName })),
    );
  const app = express();
  app.disable('x-powered-by');
  app.use(requestContext(log, lifecycle), urlGuard);
  app.use(
    healthRouter({
      pool,
      queueNames: [config.queueName, config.diskQueueName],
      databaseDescription: config.database.description,
      namespace: config.namespace,
      lifecycle,
      log,
    }),
  );
  app.use('/v1', v1);
  app.use(notFound);
  app.use(errorHandler);
  return app;
}
