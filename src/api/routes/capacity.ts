import { Router } from 'express';
import type { CapacityService } from '../services/capacity';

export function capacityRouter(capacity: CapacityService): Router {
  return Router()
    .get('/gpu/availability', async (_req, res) => {
      res.json(await capacity.availability());
    })
    .get('/cluster/status', async (_req, res) => {
      res.json(await capacity.clusterStatus());
    });
}
