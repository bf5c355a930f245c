import { rmSync } from 'node:fs';
import { apiImageRecipe, bundleFolder, nodeBaseRecipe } from './images';
import type { KwokCluster } from './kwok-cluster';
import { startNode, type RealNode } from './node';
import { startNodeDatabase, type NodeDatabase } from './node-database';

/**
 * What a case with the stack's pods on a real node starts from: a node with the stack's two images
 * (the runner's `node:20-bookworm-slim`, the API's `gpu-dev-api:0.1.0`) and the database on its
 * address. `stop()` ends them in order (database, node); the cluster is the caller's.
 */
export interface StackNode {
  readonly node: RealNode;
  readonly database: NodeDatabase;
  stop(): Promise<void>;
}

export async function startStackNode(cluster: KwokCluster): Promise<StackNode> {
  const node = await startNode(cluster);
  try {
    const buildDir = bundleFolder();
    try {
      await node.importImages([nodeBaseRecipe(), apiImageRecipe({ buildDir }).recipe]);
    } finally {
      rmSync(buildDir, { recursive: true, force: true });
    }
    const database = await startNodeDatabase(node);
    return {
      node,
      database,
      stop: async () => {
        await database.stop();
        await node.stop();
      },
    };
  } catch (error) {
    await node.stop();
    throw error;
  }
}
