import { readdirSync, rmSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { apiImageRecipe, bundleFolder, nodeBaseRecipe, NODE_IMAGE, type ImageRecipe } from '../../harness/images';
import { KwokCluster } from '../../harness/kwok-cluster';
import { startNode, type ImportedImage, type RealNode } from '../../harness/node';
import { startNodeDatabase, type NodeDatabase } from '../../harness/node-database';
import { cgroupHierarchies, hostLeftovers, iptablesChains, mountsUnder, processesOf, readSysctl, SYSCTLS } from '../../harness/node-host';
import { describeWithNode, toolchain } from '../../harness/suite';

/**
 * The real node's smoke test: a kubelet with containerd and runc joined to the kwok control
 * plane runs pods for real (images imported, no registry), `kubectl logs` and `exec` reach it,
 * its pods reach the database on the node's address, and stopping it leaves nothing behind.
 */
const NAMESPACE = 'default';

function pod(name: string, spec: Record<string, unknown>): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NAMESPACE },
    spec: { restartPolicy: 'Never', automountServiceAccountToken: false, enableServiceLinks: false, ...spec },
  };
}

/** Restricted as the stack's own pods are (src/stack/constructs/pod-spec.ts). */
const RESTRICTED = {
  pod: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
  container: {
    runAsNonRoot: true,
    runAsUser: 1000,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  },
};

describeWithNode('a real node (kubelet, containerd, runc) joined to the kwok control plane', () => {
  let cluster: KwokCluster;
  let node: RealNode;
  let database: NodeDatabase;
  let imported: ImportedImage[];
  let before: { sysctls: Record<string, string | undefined>; chains: string[] };

  beforeAll(async () => {
    cluster = await KwokCluster.create(toolchain(), 'gpu-dev-node', { realNodes: true });
    // After create, which swept what a dead run left (and restored what it had changed).
    before = { sysctls: Object.fromEntries(SYSCTLS.map((name) => [name, readSysctl(name)])), chains: iptablesChains() };
    node = await startNode(cluster);
    const buildDir = bundleFolder();
    try {
      const recipes: ImageRecipe[] = [nodeBaseRecipe(), apiImageRecipe({ buildDir }).recipe];
      imported = await node.importImages(recipes);
    } finally {
      rmSync(buildDir, { recursive: true, force: true });
    }
    database = await startNodeDatabase(node);
    console.info(
      `node ${node.name} at ${node.address}: ${JSON.stringify(node.timings)}; images ${imported.map((i) => i.name).join(', ')} (${imported[0].cached ? 'cached' : `built ${imported[0].buildMs} ms`}, imported in ${imported[0].importMs} ms)`,
    );
  });
  afterAll(async () => {
    await database?.stop();
    await node?.stop();
    await cluster?.delete();
  });

  async function waitForPhase(name: string, phase: string): Promise<any> {
    await cluster
      .kubectl(['wait', '-n', NAMESPACE, `pod/${name}`, `--for=jsonpath={.status.phase}=${phase}`, '--timeout=90s'], { timeoutMs: 100_000 })
      .catch(async (error: Error) => {
        const described = await cluster.kubectl(['describe', 'pod', '-n', NAMESPACE, name]).catch(() => '');
        throw new Error(`${error.message}\n${described}\n${node.logs()}`);
      });
    return cluster.kubectlJson(['get', 'pod', '-n', NAMESPACE, name]);
  }

  describe('when the node has started', () => {
    let object: any;
    beforeAll(async () => {
      object = await cluster.kubectlJson(['get', 'node', node.name]);
    });

    it('then it is Ready', () => {
      expect(object.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('True');
    });

    it('then its address is its InternalIP', () => {
      expect(object.status.addresses).toContainEqual({ type: 'InternalIP', address: node.address });
    });

    it("then it runs the toolchain's containerd and kubelet", () => {
      expect(object.status.nodeInfo.containerRuntimeVersion).toBe('containerd://2.4.2');
      expect(object.status.nodeInfo.kubeletVersion).toBe(toolchain().versions.KUBERNETES_VERSION);
    });

    it('then kwok does not manage it, and it is the only node', async () => {
      expect(object.metadata.annotations?.['kwok.x-k8s.io/node']).toBeUndefined();
      expect((await cluster.kubectlJson(['get', 'nodes'])).items.map((n: any) => n.metadata.name)).toEqual([node.name]);
    });

    it('then the runner image and the product image are imported', () => {
      expect(imported.map((i) => i.ref)).toEqual([`docker.io/library/${NODE_IMAGE}`, 'docker.io/library/gpu-dev-api:0.1.0']);
    });
  });

  it('when a pod of the runner image prints a line and exits 0, then it Succeeded on the real node and kubectl logs shows the line', async () => {
    await cluster.apply(
      pod('hello', {
        containers: [
          { name: 'hello', image: NODE_IMAGE, command: ['node', '-e', 'console.log(`hello from ${process.version} as ${require("os").userInfo().username}`)'] },
        ],
      }),
    );
    const done = await waitForPhase('hello', 'Succeeded');
    expect(done.spec.nodeName).toBe(node.name);
    expect(done.status.containerStatuses[0].state.terminated.exitCode).toBe(0);
    expect(done.status.podIP.startsWith(node.podSubnet.split('.').slice(0, 3).join('.'))).toBe(true);
    expect((await cluster.kubectl(['logs', '-n', NAMESPACE, 'hello'])).trim()).toBe(`hello from ${process.version} as root`);
  });

  it('when a restricted pod (uid 1000, read-only root, RuntimeDefault seccomp, no capabilities) reads its ConfigMap, then it runs so, and kubectl exec and logs reach it', async () => {
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'greeting', namespace: NAMESPACE },
      data: { 'greeting.txt': 'hello, volume\n' },
    });
    const program = [
      "const fs = require('fs');",
      "const status = Object.fromEntries(fs.readFileSync('/proc/self/status', 'utf8').split('\\n').map((l) => l.split(':\\t')));",
      "let root = 'writable'; try { fs.writeFileSync('/probe', 'x'); } catch (e) { root = e.code; }",
      "console.log(JSON.stringify({ greeting: fs.readFileSync('/config/greeting.txt', 'utf8'), uid: process.getuid(), gid: process.getgid(), user: require('os').userInfo().username, root, capEff: status.CapEff, seccomp: status.Seccomp, noNewPrivs: status.NoNewPrivs }));",
      'setInterval(() => {}, 1 << 30);',
    ].join('\n');
    await cluster.apply(
      pod('restricted', {
        securityContext: RESTRICTED.pod,
        terminationGracePeriodSeconds: 2,
        containers: [
          {
            name: 'main',
            image: NODE_IMAGE,
            command: ['node', '-e', program],
            securityContext: RESTRICTED.container,
            volumeMounts: [{ name: 'config', mountPath: '/config', readOnly: true }],
          },
        ],
        volumes: [{ name: 'config', configMap: { name: 'greeting', defaultMode: 0o444 } }],
      }),
    );
    await waitForPhase('restricted', 'Running');
    const deadline = Date.now() + 30_000;
    let logs = '';
    while (!logs.trim() && Date.now() < deadline) {
      logs = await cluster.kubectl(['logs', '-n', NAMESPACE, 'restricted']);
      if (!logs.trim()) await new Promise((r) => setTimeout(r, 250));
    }
    expect(JSON.parse(logs)).toEqual({
      greeting: 'hello, volume\n',
      uid: 1000,
      gid: 1000,
      user: 'node',
      root: 'EROFS',
      capEff: '0000000000000000',
      seccomp: '2',
      noNewPrivs: '1',
    });
    const exec = await cluster.kubectl([
      'exec',
      '-n',
      NAMESPACE,
      'restricted',
      '--',
      'node',
      '-e',
      'console.log(process.getuid(), require("fs").readdirSync("/config").filter((f) => !f.startsWith("..")).join(","))',
    ]);
    expect(exec.trim()).toBe('1000 greeting.txt');
    await cluster.kubectl(['delete', 'pod', '-n', NAMESPACE, 'restricted', '--timeout=60s']);
  });

  it('when a pod connects to the database on the node address, then PostgreSQL answers it, and another address of the host is not routed', async () => {
    const otherHostAddress = Object.entries(networkInterfaces())
      .filter(([name]) => name !== node.state.nodeBridge && name !== node.state.podBridge)
      .flatMap(([, addresses]) => addresses ?? [])
      .find((a) => a.family === 'IPv4' && !a.internal)?.address;
    if (!otherHostAddress) throw new Error("this host has no IPv4 address besides loopback and the run's");
    const program = `
      const net = require('net');
      const probe = (host, port) => new Promise((resolve) => {
        const socket = net.connect(port, host);
        socket.setTimeout(3000);
        // An SSLRequest: PostgreSQL answers one byte, N (no TLS here).
        socket.on('connect', () => socket.write(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])));
        socket.on('data', (d) => { resolve(d.toString()); socket.destroy(); });
        socket.on('error', (e) => resolve(e.code));
        socket.on('timeout', () => { resolve('timeout'); socket.destroy(); });
      });
      (async () => console.log(JSON.stringify({ database: await probe(process.env.HOST, Number(process.env.PORT)), hostAddress: await probe(process.env.OTHER, 22) })))();`;
    await cluster.apply(
      pod('reach', {
        securityContext: RESTRICTED.pod,
        containers: [
          {
            name: 'main',
            image: NODE_IMAGE,
            command: ['node', '-e', program],
            env: [
              { name: 'HOST', value: database.host },
              { name: 'PORT', value: String(database.port) },
              { name: 'OTHER', value: otherHostAddress },
            ],
            securityContext: RESTRICTED.container,
          },
        ],
      }),
    );
    await waitForPhase('reach', 'Succeeded');
    // Another address of this host (not the run's): the pod has no route to it, so no packet leaves the pod.
    expect(JSON.parse(await cluster.kubectl(['logs', '-n', NAMESPACE, 'reach']))).toEqual({ database: 'N', hostAddress: 'ENETUNREACH' });
  });

  describe('when the node is stopped with a pod running', () => {
    let running: { shim: boolean; mounts: number };
    let stopped: unknown[];
    /** What is left right after the stop, read at once. */
    let left: {
      node: unknown[];
      host: unknown[] | undefined;
      processes: unknown[];
      mounts: unknown[];
      bridges: string[];
      cgroups: string[];
      chains: string[];
      sysctls: Record<string, string | undefined>;
    };
    beforeAll(async () => {
      const { runDir, nodeBridge, podBridge, cgroup } = node.state;
      const saved = node.savedHost;
      // Still running when the node stops: its container, shim, sandbox, veth and mounts must go too.
      await cluster.apply(pod('lingering', { containers: [{ name: 'main', image: NODE_IMAGE, command: ['node', '-e', 'setInterval(() => {}, 1 << 30)'] }] }));
      await waitForPhase('lingering', 'Running');
      running = { shim: processesOf(runDir).some((p) => p.cmd.includes('containerd-shim-runc-v2')), mounts: mountsUnder(runDir).length };
      await database.stop();
      stopped = await node.stop();
      left = {
        node: node.leftovers(),
        host: saved ? hostLeftovers(saved) : undefined,
        processes: processesOf(runDir),
        mounts: mountsUnder(runDir),
        bridges: readdirSync('/sys/class/net').filter((l) => l === nodeBridge || l === podBridge),
        // Every hierarchy: the v1 controllers', and the unified (v2) one of a hybrid host, where runc makes cgroups too.
        cgroups: cgroupHierarchies(true).flatMap((h) =>
          readdirSync(h)
            .filter((d) => d === cgroup)
            .map((d) => `${h}/${d}`),
        ),
        chains: iptablesChains().filter((c) => !before.chains.includes(c)),
        sysctls: Object.fromEntries(SYSCTLS.map((name) => [name, readSysctl(name)])),
      };
    });

    it("then, before the stop, the pod's shim ran and its mounts were in place (what the stop must remove)", () => {
      expect(running.shim).toBe(true);
      expect(running.mounts).toBeGreaterThan(1);
    });

    it('then the node reports nothing of its run left, nor of what it changed on the host', () => {
      expect(stopped).toEqual([]);
      expect(left.node).toEqual([]);
      if (left.host) expect(left.host).toEqual([]);
    });

    it('then no process of its run is left', () => {
      expect(left.processes).toEqual([]);
    });

    it('then no mount of its run is left', () => {
      expect(left.mounts).toEqual([]);
    });

    it('then no bridge of it is left', () => {
      expect(left.bridges).toEqual([]);
    });

    it('then no cgroup of it is left', () => {
      expect(left.cgroups).toEqual([]);
    });

    it('then no iptables chain of it is left', () => {
      expect(left.chains).toEqual([]);
    });

    it('then the sysctls are as before', () => {
      expect(left.sysctls).toEqual(before.sysctls);
    });
  });
});
