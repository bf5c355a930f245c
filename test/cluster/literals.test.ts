import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustRun } from '../../harness/command';
import { Project } from '../../harness/project';
import { describeWithToolchain, toolchain } from '../../harness/suite';
import { TEMPLATE_SQL } from '../support/stack';

/**
 * What OpenTofu itself makes of the strings the stack writes, with no provider and no cluster:
 * the synthesized values become outputs of a configuration of their own, and `tofu output`
 * shows what Terraform evaluated them to.
 */
describeWithToolchain('OpenTofu evaluates every literal of cdk.tf.json to exactly its source', () => {
  let project: Project;
  afterAll(() => project?.remove());

  it('when SQL holds ${x}, %{ if } and $${y} and the runner its template literals, then each ConfigMap value, env value and argument evaluates to its bytes', async () => {
    // The ConfigMap layout: its runner is the largest literal there is.
    project = Project.create(toolchain(), '/nonexistent/kubeconfig', { settings: { GPU_DEV_RUNNER_SOURCE: 'configmap' } });
    project.writeSql('schema', '006_templates.sql', TEMPLATE_SQL);
    await project.synth();
    const json = JSON.parse(readFileSync(join(project.stackDir, 'cdk.tf.json'), 'utf8'));

    const outputs: Record<string, { value: unknown }> = {};
    for (const [id, cm] of Object.entries<any>(json.resource.kubernetes_config_map_v1)) outputs[`cm_${id}`] = { value: { ...cm.data, ...cm.binary_data } };
    const container = Object.values<any>(json.resource.kubernetes_job_v1)[0].spec.template.spec.container[0];
    outputs.args = { value: container.args };
    outputs.env = { value: container.env.filter((e: any) => e.value !== undefined).map((e: any) => e.value) };
    const dir = mkdtempSync(join(tmpdir(), 'gpu-dev-literals-'));
    writeFileSync(join(dir, 'main.tf.json'), JSON.stringify({ output: outputs }));
    const env = project.env();
    await mustRun(toolchain().bin('tofu'), ['init', '-no-color', '-input=false'], { cwd: dir, env, timeoutMs: 60_000 });
    await mustRun(toolchain().bin('tofu'), ['apply', '-no-color', '-input=false', '-auto-approve'], { cwd: dir, env, timeoutMs: 120_000 });
    const evaluated = JSON.parse((await mustRun(toolchain().bin('tofu'), ['output', '-json'], { cwd: dir, env, timeoutMs: 60_000 })).stdout);

    // The bundle's ConfigMaps by their names without the bundle's hash.
    const byName = new Map(
      Object.entries<any>(json.resource.kubernetes_config_map_v1).map(([id, cm]) => [
        cm.metadata.name.replace(/-[0-9a-f]{12}$/, ''),
        evaluated[`cm_${id}`].value,
      ]),
    );
    const file = (folder: string, name: string) => readFileSync(join(project.root, 'database', folder, name), 'utf8');
    expect(byName.get('database-schema')['006_templates.sql']).toBe(TEMPLATE_SQL);
    for (const name of Object.keys(byName.get('database-schema'))) expect(byName.get('database-schema')[name]).toBe(file('schema', name));
    for (const name of Object.keys(byName.get('database-fixtures'))) expect(byName.get('database-fixtures')[name]).toBe(file('fixtures', name));
    // The runner goes as base64 (binaryData): the same bytes, and nothing for Terraform to evaluate.
    const runner = Buffer.from(byName.get('database-migration-runner')['gpu-dev-db.js'] as string, 'base64');
    expect(runner.toString('utf8')).toContain('${');
    expect(runner.equals(project.runnerBytes())).toBe(true);
    expect(evaluated.args.value).toEqual(container.args);
  });
});
