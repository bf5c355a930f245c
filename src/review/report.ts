import type { GeneratedStatement } from '../runner';
import { REVIEW_MARKER, type FileRisk, type Review } from './review';

/**
 * The review as a pull-request comment: the hidden marker (a CI step finds and updates its
 * earlier comment by it), the verdict and its reasons first, then Deploy effect, SQL effect,
 * Locks and risk, Lint, and what the review cannot know; long parts in <details>. GitHub
 * refuses comments over 65,536 characters: a longer report drops the bodies of its <details>
 * first, then is cut, saying so, and stays under MAX_COMMENT.
 */

export const MAX_COMMENT = 65_000;

const ICON = { nothing: '💤', pass: '✅', warn: '⚠️', fail: '❌' } as const;

export function toMarkdown(review: Review, limit = MAX_COMMENT): string {
  const full = render(review, false);
  if (full.length <= limit) return full;
  const compact = render(review, true, full.length);
  if (compact.length <= limit) return compact;
  const note = `\n\n_… cut here: the report is ${compact.length} characters even without its details, over the ${limit} a comment may hold. The whole report: \`npm run review -- --json\`._\n`;
  return compact.slice(0, limit - note.length) + note;
}

export function toJson(review: Review): string {
  return `${JSON.stringify(review, null, 2)}\n`;
}

function render(review: Review, compact: boolean, fullLength?: number): string {
  const out: string[] = [REVIEW_MARKER];
  const details = (summary: string, body: string) =>
    compact
      ? `<details><summary>${summary}</summary>\n\n_Left out: the full report is ${fullLength} characters, over what a comment may hold; run \`npm run review\` for all of it._\n\n</details>`
      : `<details><summary>${summary}</summary>\n\n${body}\n\n</details>`;

  out.push(`## ${ICON[review.verdict.level]} gpu-dev review: ${review.verdict.line}`, '');
  for (const reason of review.verdict.reasons) out.push(`- ${reason.level === 'fail' ? '❌' : '⚠️'} ${inline(reason.text)}`);
  if (review.verdict.reasons.length > 0) out.push('');
  const side = (s: Review['base']) => `${s.label}${s.jobName ? `, Job \`${s.jobName}\`` : ''}${s.refused ? ' (synth refused)' : ''}`;
  out.push(`${side(review.base)} → ${side(review.head)}`, '');

  out.push('### Deploy effect', '');
  if (review.head.refused) out.push('Synth refuses the head, so nothing deploys:', '', fence(review.head.refused), '');
  for (const sentence of review.deploy.effect?.sentences ?? []) out.push(`- ${inline(sentence)}`);
  if (review.deploy.changes.length === 0) out.push(review.head.refused ? '' : '- No Kubernetes object changes.');
  else {
    out.push('', `| action | object | what changes |`, `| --- | --- | --- |`);
    for (const change of review.deploy.changes) {
      const renamed = change.previousName ? ` (was \`${change.previousName}\`)` : '';
      const paths = change.attributes.map((a) => a.path);
      const what =
        change.action === 'create' || change.action === 'delete'
          ? ''
          : paths.length <= 3
            ? paths.map(code).join(', ')
            : `${paths.slice(0, 3).map(code).join(', ')} and ${paths.length - 3} more`;
      out.push(`| ${change.action} | ${change.kind} \`${change.name || change.address}\`${renamed} | ${cell(what)} |`);
    }
    out.push(
      '',
      `From ${review.deploy.source === 'tofu plan' ? `the plan ${code(review.deploy.tofuPlan?.file ?? '')} (tofu show -json)` : 'the two synthesized cdk.tf.json files, resource by resource'}.`,
    );
    const lines = review.deploy.changes.flatMap((change) => [
      `${{ create: '+', update: '~', replace: '-/+', delete: '-' }[change.action]} ${change.address}${change.name ? ` (${change.kind} ${change.name})` : ''}`,
      ...change.attributes.map(
        (a) => `    ${a.path}: ${a.before ?? '(unset)'} → ${a.after ?? '(unset)'}${a.forcesReplacement ? '   # forces replacement' : ''}`,
      ),
    ]);
    out.push('', details(`Attribute changes (${review.deploy.changes.reduce((n, c) => n + c.attributes.length, 0)})`, fence(lines.join('\n'), 'diff')));
  }
  for (const line of review.deploy.tofuPlan?.disagreements ?? []) out.push(`- ⚠️ ${inline(line)}`);
  if ((review.deploy.tofuPlan?.drifted.length ?? 0) > 0)
    out.push(`- Changed outside Terraform since the last apply (tofu's refresh): ${review.deploy.tofuPlan?.drifted.map(code).join(', ')}`);
  out.push('');

  out.push('### SQL effect', '');
  if (review.sql.files.length > 0) out.push(`Files: ${review.sql.files.map((f) => `${code(f.file)} ${f.change}`).join(', ')}.`, '');
  if (review.sql.skipped) out.push(`Not planned: ${review.sql.skipped}.`, '');
  for (const outcome of [review.sql.scratch, review.sql.database]) {
    if (!outcome) continue;
    const plan = outcome.plan;
    out.push(
      `**${outcome === review.sql.scratch ? 'Scratch PostgreSQL 18, brought to the base bundle by the runner' : `${outcome.database} (DATABASE_URL, read-only plan)`}**: ${plan ? `apply would ${plan.applyWould}` : `the plan failed (exit ${outcome.exitCode})`}.`,
      '',
    );
    if (outcome.failure) out.push(fence(outcome.failure), '');
    if (!plan) continue;
    const changes = plan.changes.length;
    const rows = plan.fixtures.map(
      (f) =>
        `${f.file} statement ${f.statement} (line ${f.line}): ${
          Object.entries(f.tables)
            .map(([t, n]) => `${t} ${n.inserted} inserted, ${n.updated} updated${n.deleted ? `, ${n.deleted} deleted` : ''}`)
            .join('; ') || 'no rows'
        }`,
    );
    out.push(
      `- Catalog: ${changes === 0 ? 'no change' : `${changes} change${changes === 1 ? '' : 's'}`}${
        changes > 0
          ? `: ${plan.changes
              .slice(0, 8)
              .map((c) => code(`${{ create: '+', alter: '~', drop: '-' }[c.change]} ${c.kind} ${c.name}`))
              .join(', ')}${changes > 8 ? ` and ${changes - 8} more` : ''}`
          : ''
      }.`,
    );
    out.push(`- Fixture rows: ${rows.length === 0 ? 'none' : rows.map(inline).join('; ')}.`);
    out.push(
      `- Generated by convergence (existing tables brought to their edited CREATE TABLE): ${plan.converged.length === 0 ? 'none' : `${plan.converged.length} statement${plan.converged.length === 1 ? '' : 's'}`}.`,
    );
    if (plan.converged.length > 0) out.push('', ...generatedTable(plan.converged), '');
    out.push(
      `- Drift: ${plan.drift.errors.length + plan.drift.warnings.length === 0 ? 'none' : `${plan.drift.errors.length} error${plan.drift.errors.length === 1 ? '' : 's'}, ${plan.drift.warnings.length} warning${plan.drift.warnings.length === 1 ? '' : 's'}`}.`,
    );
    for (const problem of [...plan.drift.errors, ...plan.drift.warnings]) out.push('', fence(problem.message));
    for (const file of plan.notRun) out.push(`- Not run by plan (outside a transaction, cannot be rolled back): ${code(file)}.`);
    out.push('', details('The runner’s plan, as `gpu-dev-db plan` prints it', fence(outcome.text.join('\n'))), '');
  }

  out.push('### Locks and risk', '');
  const changed = review.locks.files.filter((f) => f.change !== 'unchanged');
  if (review.locks.files.length === 0) out.push(review.sql.skipped ? 'No SQL runs, so no lock is taken.' : 'No lock could be read (the plan did not run).', '');
  else {
    out.push(
      'Each file’s own locks on tables that existed before the deploy, read from PostgreSQL (pg_locks) on the scratch database; the time is the file’s inside the plan’s transaction.',
      '',
    );
    if (changed.length > 0) out.push(...lockTable(changed), '');
    else out.push('No SQL file changed: the bundle’s files are the base’s (the runner or the stack changed).', '');
    for (const sentence of review.locks.sentences) out.push(`- ${inline(sentence)}`);
    const generated = review.sql.scratch?.plan?.converged ?? [];
    if (generated.length > 0) {
      out.push('', 'Statements convergence generates take these locks, each held until the run commits:', '', ...generatedTable(generated));
    }
    const holds = review.locks.tables.map(
      (t) =>
        `| ${code(t.table)} | ${t.mode} | ${code(t.since)} | ${Math.round(t.heldMs)} ms | ${t.blocked.length > 0 ? cell(t.blocked.map((b) => b.route).join('; ')) : '—'}${t.otherWriters ? ` (and ${cell(t.otherWriters)})` : ''} |`,
    );
    const unchanged = review.locks.files.filter((f) => f.change === 'unchanged');
    out.push(
      '',
      details(
        'What the whole run holds until its commit, and the unchanged files’ own locks',
        [
          '| table | strongest lock | since | held (scratch) | waits |',
          '| --- | --- | --- | --- | --- |',
          ...holds,
          '',
          ...(unchanged.length > 0 ? ['Every deploy of this bundle runs these unchanged files too:', '', ...lockTable(unchanged)] : []),
        ].join('\n'),
      ),
      '',
    );
  }

  out.push('### Lint', '');
  if (review.lint.error) out.push(`❌ squawk did not run: ${inline(review.lint.error)}`, '');
  else if (review.lint.result) {
    const { files, findings, tool } = review.lint.result;
    out.push(
      `${tool} (\`.squawk.toml\`, as \`npm run lint:sql\`) on the changed SQL files: ${files.length === 0 ? 'none changed' : files.map(code).join(', ')}: ${findings.length === 0 ? 'no findings.' : `${findings.length} finding${findings.length === 1 ? '' : 's'}.`}`,
      '',
    );
    if (findings.length > 0) {
      out.push('| where | rule | message |', '| --- | --- | --- |');
      for (const f of findings)
        out.push(`| ${code(`${f.file}:${f.line}:${f.column}`)} | ${code(f.rule)} | ${cell(f.message)}${f.help ? ` ${cell(f.help)}` : ''} |`);
      out.push('');
    }
  }

  out.push('### What this review cannot know', '');
  for (const line of review.cannotKnow) out.push(`- ${inline(line)}`);
  const notes = [...review.base.notes.map((n) => `base: ${n}`), ...review.head.notes.map((n) => `head: ${n}`)];
  const by = (s: Review['base']) => (s.synthesizedBy === 'this checkout' ? 'the reviewing checkout’s code' : 'its own code');
  out.push(
    '',
    `<sub>npm run review · base synthesized by ${by(review.base)}, head by ${by(review.head)}${notes.length ? ` · ${notes.map(inline).join(' · ')}` : ''}</sub>`,
    '',
  );
  return out.join('\n');
}

/** Convergence's statements: where each is declared, the statement, its lock and what it costs. */
function generatedTable(generated: readonly GeneratedStatement[]): string[] {
  return [
    '| declared at | generated | lock | cost |',
    '| --- | --- | --- | --- |',
    ...generated.map((g) => `| ${code(g.declaredAt)} | ${code(g.sql)} | ${g.lock} | ${g.cost} |`),
  ];
}

function lockTable(files: readonly FileRisk[]): string[] {
  const rows = files.map((f) => {
    const locks = !f.observed
      ? 'not readable (runs outside a transaction)'
      : f.locks.length === 0
        ? 'none'
        : f.locks
            .map((l) => {
              const text = `${l.mode} on ${l.table}`;
              const tags = [l.new ? 'new' : '', l.hot ? 'hot table' : ''].filter(Boolean).join(', ');
              return l.new && l.hot && (l.blocked.length > 0 || l.otherWriters) ? `**${text}** (${tags})` : `${text}${tags ? ` (${tags})` : ''}`;
            })
            .join('<br>');
    return `| ${code(f.file)} | ${f.change} | ${locks} | ${f.rewrites.length > 0 ? f.rewrites.map(code).join(', ') : '—'} | ${f.durationMs === undefined ? '—' : `${f.durationMs < 10 ? f.durationMs.toFixed(1) : Math.round(f.durationMs)} ms`} |`;
  });
  return ['| file | change | locks on existing tables | rewrites | time (scratch) |', '| --- | --- | --- | --- | --- |', ...rows];
}

function fence(text: string, language = 'text'): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  return `${ticks}${language}\n${text}\n${ticks}`;
}

function code(text: string): string {
  const ticks = text.includes('`') ? '``' : '`';
  return `${ticks}${ticks.length > 1 ? ' ' : ''}${text.replace(/\n/g, ' ')}${ticks.length > 1 ? ' ' : ''}${ticks}`;
}

/** One line of Markdown: newlines folded, HTML kept from opening tags. */
function inline(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/</g, '&lt;');
}

function cell(text: string): string {
  return inline(text).replace(/\|/g, '\\|');
}
