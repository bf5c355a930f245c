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
  let container: any;
  let evaluated: Record<string, { value: any }>;
  /** The bundle's ConfigMaps as OpenTofu evaluated them, by their names without the bundle's hash. */
  let configMaps: Map<string, Record<string, string>>;
  const file = (folder: string, name: string) => readFileSync(join(project.root, 'database', folder, name), 'utf8');
  afterAll(() => project?.remove());

  describe('when SQL holds ${x}, %{ if } and $${y} and the runner its template literals', () => {
    beforeAll(async () => {
      // The ConfigMap layout: its runner is the largest literal there is.
      project = Project.create(toolchain(), '/nonexistent/kubeconfig', { settings: { GPU_DEV_RUNNER_SOURCE: 'configmap' } });
      project.writeSql('schema', '006_templates.sql', TEMPLATE_SQL);
      await project.synth();
      const json = JSON.parse(readFileSync(join(project.stackDir, 'cdk.tf.json'), 'utf8'));

      const outputs: Record<string, { value: unknown }> = {};
      for (const [id, cm] of Object.entries<any>(json.resource.kubernetes_config_map_v1)) outputs[`cm_${id}`] = { value: { ...cm.data, ...cm.binary_data } };
      container = Object.values<any>(json.resource.kubernetes_job_v1)[0].spec.template.spec.container[0];
      outputs.args = { value: container.args };
      outputs.env = { value: container.env.filter((e: any) => e.value !== undefined).map((e: any) => e.value) };
      const dir = mkdtempSync(join(tmpdir(), 'gpu-dev-literals-'));
      writeFileSync(join(dir, 'main.tf.json'), JSON.stringify({ output: outputs }));
      const env = project.env();
      await mustRun(toolchain().bin('tofu'), ['init', '-no-color', '-input=false'], { cwd: dir, env, timeoutMs: 60_000 });
      await mustRun(toolchain().bin('tofu'), ['apply', '-no-color', '-input=false', '-auto-approve'], { cwd: dir, env, timeoutMs: 120_000 });
      evaluated = JSON.parse((await mustRun(toolchain().bin('tofu'), ['output', '-json'], { cwd: dir, env, timeoutMs: 60_000 })).stdout);
      configMaps = new Map(
        Object.entries<any>(json.resource.kubernetes_config_map_v1).map(([id, cm]) => [
          cm.metadata.name.replace(/-[0-9a-f]{12}$/, ''),
          evaluated[`cm_${id}`].value,
        ]),
      );
    });

    it('then the schema ConfigMap evaluates to every schema file byte for byte, the template file included', () => {
      const schema = configMaps.get('database-schema') as Record<string, string>;
      expect(schema['006_templates.sql']).toBe(TEMPLATE_SQL);
      expect(Object.keys(schema).length).toBeGreaterThanOrEqual(6);
      for (const name of Object.keys(schema)) expect(schema[name]).toBe(file('schema', name));
    });

    it('then the fixtures ConfigMap evaluates to every fixture file byte for byte', () => {
      const fixtures = configMaps.get('database-fixtures') as Record<string, string>;
      expect(Object.keys(fixtures).length).toBeGreaterThanOrEqual(1);
      for (const name of Object.keys(fixtures)) expect(fixtures[name]).toBe(file('fixtures', name));
    });

    it("then the runner's ConfigMap evaluates to its bytes: base64 (binaryData), nothing for Terraform to evaluate", () => {
      const runner = Buffer.from((configMaps.get('database-migration-runner') as Record<string, string>)['gpu-dev-db.js'], 'base64');
      expect(runner.toString('utf8')).toContain('${');
      expect(runner.equals(project.runnerBytes())).toBe(true);
    });

    it("then the Job's arguments evaluate to themselves", () => {
      expect(evaluated.args.value).toEqual(container.args);
    });

    it("then the Job's env values evaluate to themselves", () => {
      const values = container.env.filter((e: any) => e.value !== undefined).map((e: any) => e.value);
      expect(values.length).toBeGreaterThan(3);
      expect(evaluated.env.value).toEqual(values);
    });
  });
});
