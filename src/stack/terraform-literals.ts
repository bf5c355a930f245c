import { TerraformElement, type IAspect } from 'cdktf';
import type { IConstruct } from 'constructs';
import { InvalidValueError } from './validation';

/**
 * Terraform's JSON syntax evaluates every string as a template: `${…}` is an interpolation and
 * `%{…}` a directive, wherever they stand (a SQL comment, the runner's JavaScript template
 * literals). cdktf writes literal strings as they are, so without this a ConfigMap carrying such
 * text fails `tofu plan` with "Extra characters after interpolation expression", or worse, is
 * evaluated. Escaping is done on each element's unresolved output, where a cdktf token (a
 * reference we mean, `${TfToken[…]}`) can still be told from the literal text around it: every
 * literal fragment gets `${` → `$${` and `%{` → `%%{` (Terraform's escapes, and nothing else),
 * every token is left to resolve into the reference it stands for.
 */

/** cdktf's string-token marker (cdktf/lib/tokens/private/encoding.ts): `${TfToken[TOKEN.12]}`. */
const STRING_TOKEN = /\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}/g;
const TEMPLATE_INTRODUCTION = /([$%])\{/g;

/** A literal string as Terraform's template syntax must spell it to evaluate to exactly itself. */
export function escapeTemplate(literal: string): string {
  return literal.replace(TEMPLATE_INTRODUCTION, '$1$1{');
}

/**
 * Escapes the literal fragments of a string, keeping cdktf's tokens as they are. A string that
 * Terraform would not keep as it is (it normalizes to Unicode NFC) cannot be written: refused,
 * naming where it stands (a file's text is refused earlier, with its line: DatabaseMigration).
 */
function escapeString(text: string, where: string): string {
  if (text.normalize('NFC') !== text) {
    throw new InvalidValueError(
      where,
      text,
      'is not in Unicode normal form NFC: Terraform normalizes every string to NFC, so the cluster would get another value; write it NFC-normalized',
    );
  }
  let out = '';
  let last = 0;
  for (const match of text.matchAll(STRING_TOKEN)) {
    out += escapeTemplate(text.slice(last, match.index)) + match[0];
    last = match.index + match[0].length;
  }
  return out + escapeTemplate(text.slice(last));
}

/**
 * Walks plain JSON-shaped data (objects, arrays, strings), escaping strings and object keys.
 * Anything else (numbers, booleans, cdktf's IResolvable objects) is left as it is: an object that
 * resolves later is a reference or an expression of cdktf's own.
 */
function escapeLiterals(value: unknown, where: string): unknown {
  if (typeof value === 'string') return escapeString(value, where);
  if (Array.isArray(value)) return value.map((item, i) => escapeLiterals(item, `${where}[${i}]`));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [escapeString(k, `${where} key ${JSON.stringify(k)}`), escapeLiterals(v, `${where}.${k}`)]),
    );
  }
  return value;
}

/**
 * The aspect (cdktf runs aspects before every synth, Testing.synth too) that makes every element
 * it visits (resources, providers, outputs, backends) write its literal strings escaped; an
 * element already escaping is left alone, so a second synth never escapes twice.
 */
export class TemplateLiteralEscaping implements IAspect {
  private readonly escaping = new WeakSet<TerraformElement>();

  visit(node: IConstruct): void {
    if (!TerraformElement.isTerraformElement(node) || this.escaping.has(node)) return;
    this.escaping.add(node);
    const toTerraform = node.toTerraform.bind(node);
    node.toTerraform = () => escapeLiterals(toTerraform(), `cdk.tf.json (${node.node.path})`);
  }
}

/**
 * What Terraform makes of a string of cdk.tf.json that holds no reference: the escapes undone.
 * Throws on an unescaped `${` or `%{`, which Terraform would evaluate (the string is no literal).
 */
export function literalValue(template: string): string {
  return template.replace(/([$%])(\1?)\{/g, (_whole, introduction: string, doubled: string, offset: number) => {
    if (doubled) return `${introduction}{`;
    throw new Error(`not a literal: "${introduction}{" at character ${offset} would be evaluated by Terraform`);
  });
}
