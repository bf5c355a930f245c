import { Router } from 'express';
import type { AuthService } from '../services/auth';
import { callerOf } from './auth';

export function keysRouter(auth: AuthService): Router {
  return Router().post('/keys/rotate', async (_req, res) => {
    res.json(await auth.rotate(callerOf(res)));
  });
}
