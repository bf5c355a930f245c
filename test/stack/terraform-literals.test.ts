import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeTemplate, literalValue } from '../../src/stack/terraform-literals';
import { copyOfDatabaseFolders } from '../support/runner';
import { only, runnerBytes, synthStack, TEMPLATE_SQL } from '../support/stack';

describe('literal strings in cdk.tf.json (Terraform template syntax)', () => {
  it('when a literal holds ${, %{ or already-doubled forms, then the escape doubles exactly the introductions and reading it back gives the text', () => {
    expect(escapeTemplate('a ${x} b %{ if } c $${y} d %%{z} $ % {')).toBe('a $${x} b %%{ if } c $$${y} d %%%{z} $ % {');
    for (const text of [TEMPLATE_SQL, '$$$${', '%%%%{', '${', 'no templates', '']) expect(literalValue(escapeTemplate(text))).toBe(text);
  });

  it('when a string holds an unescaped introduction, then reading it as a literal fails naming the character', () => {
    expect(() => literalValue('a ${x}')).toThrow('not a literal: "${" at character 2 would be evaluated by Terraform');
    expect(() => literalValue('%{ if }')).toThrow('"%{" at character 0');
  });

  it('when a SQL file holds template text, then its ConfigMap value is escaped, a ConfigMap runner travels as base64, and no literal is left unescaped', () => {
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.schemaDir, '006_templates.sql'), TEMPLATE_SQL);
    const { json } = synthStack({ GPU_DEV_RUNNER_SOURCE: 'configmap' }, dirs);
    const configMaps = Object.values(json.resource.kubernetes_config_map_v1) as any[];
    const schema = configMaps.find((cm) => cm.metadata.name.startsWith('database-schema-'));
    expect(schema.data['006_templates.sql']).toBe(escapeTemplate(TEMPLATE_SQL));
    expect(literalValue(schema.data['006_templates.sql'])).toBe(TEMPLATE_SQL);
    const runner = configMaps.find((cm) => cm.metadata.name.startsWith('database-migration-runner-'));
    const bytes = runnerBytes().toString('utf8');
    expect(bytes).toContain('${');
    expect(runner.data).toBeUndefined();
    expect(Buffer.from(runner.binary_data['gpu-dev-db.js'], 'base64').toString('utf8')).toBe(bytes);
    // Every ConfigMap value, env value and argument reads back as a literal (nothing evaluated).
    const pod = only(json, 'kubernetes_job_v1').spec.template.spec;
    // The deploy owner's identity alone is an expression, on purpose (constructs/adoption.ts).
    for (const cm of configMaps) {
      for (const [key, value] of Object.entries((cm.data ?? {}) as Record<string, string>)) {
        if (cm.metadata.name === 'gpu-dev-deploy-owner' && key === 'identity') expect(value).toMatch(/^\$\{substr\(sha256\(/);
        else expect(literalValue(value)).toBe(value.replace(/([$%])\1\{/g, '$1{'));
      }
    }
    for (const arg of pod.container[0].args) expect(literalValue(arg)).toBe(arg);
  });

  it('when the namespace is created by the stack, then the reference to it stays a reference while literals around it are escaped', () => {
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.fixturesDir, '002_templates.sql'), TEMPLATE_SQL);
    const { json } = synthStack({ GPU_DEV_DATABASE_MODE: 'managed' }, dirs);
    const fixtures = (Object.values(json.resource.kubernetes_config_map_v1) as any[]).find((cm) => cm.metadata.name.startsWith('database-fixtures-'));
    expect(fixtures.metadata.namespace).toBe('${kubernetes_namespace_v1.namespace.metadata[0].name}');
    expect(fixtures.data['002_templates.sql']).toBe(escapeTemplate(TEMPLATE_SQL));
  });

  it('when a file is not NFC-normalized, then synth refuses naming the file, line and column, since Terraform would change its bytes', () => {
    const dirs = copyOfDatabaseFolders();
    // "é" as e + combining acute accent (NFD): Terraform would store the one-character NFC form.
    writeFileSync(join(dirs.schemaDir, '006_accents.sql'), 'SELECT 1;\n-- caf\u0065\u0301\n');
    expect(() => synthStack({}, dirs)).toThrow(
      /^file schema\/006_accents\.sql line 2 column 7 = "e\u0301\\n": is not in Unicode normal form NFC: Terraform normalizes every string to NFC/,
    );
  });

  it("when a file holds cdktf's token marker, then synth refuses naming the file, since cdktf would turn it into a reference", () => {
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.fixturesDir, '002_marker.sql'), 'SELECT 1;\n-- ${TfToken[TOKEN.1]}\n');
    expect(() => synthStack({}, dirs)).toThrow(/^file fixtures\/002_marker\.sql line 2 column 4 = .*holds cdktf's token marker/);
  });

  it('when a setting would reach cdk.tf.json in another Unicode form than NFC, then synth refuses naming where it stands', () => {
    expect(() => synthStack({ GPU_DEV_KUBECONFIG: '/home/rene\u0301/.kube/config' })).toThrow(
      /^cdk\.tf\.json \(gpu-dev\/kubernetes\)\.provider\.kubernetes\[0\]\.config_path = .*: is not in Unicode normal form NFC/,
    );
  });
});
