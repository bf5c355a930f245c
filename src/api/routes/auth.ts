import type { RequestHandler, Response } from 'express';
import type { AuthService, Caller } from '../services/auth';

/** Authenticates every request of the router it is mounted on; the caller is kept in res.locals. */
export function requireCaller(auth: AuthService): RequestHandler {
  return async (req, res, next) => {
    res.locals.caller = await auth.authenticate(req.get('authorization'));
    next();
  };
}

export function callerOf(res: Response): Caller {
  return res.locals.caller as Caller;
}
