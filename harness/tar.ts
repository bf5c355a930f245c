import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

/**
 * A tar writer (POSIX ustar with PAX records for long names), enough for image layers and
 * docker-archive files: every entry's owner, mode and time are what the caller says (time 0 by
 * default), so the same entries always give the same bytes, whoever runs it.
 */

export type TarEntry =
  | { readonly type: 'dir'; readonly path: string; readonly mode?: number; readonly uid?: number; readonly gid?: number }
  | { readonly type: 'file'; readonly path: string; readonly mode?: number; readonly uid?: number; readonly gid?: number; readonly data: Buffer }
  /** A file's bytes read from `source` on the host (streamed; its own mode unless `mode` is given). */
  | { readonly type: 'copy'; readonly path: string; readonly mode?: number; readonly uid?: number; readonly gid?: number; readonly source: string }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string };

const BLOCK = 512;

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
  return `${length}${body}`;
}

function header(name: string, fields: { mode: number; uid: number; gid: number; size: number; type: string; linkname?: string }): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, 100, 'utf8');
  block.write(octal(fields.mode & 0o7777, 8), 100, 'ascii');
  block.write(octal(fields.uid, 8), 108, 'ascii');
  block.write(octal(fields.gid, 8), 116, 'ascii');
  block.write(octal(fields.size, 12), 124, 'ascii');
  block.write(octal(0, 12), 136, 'ascii');
  block.write('        ', 148, 'ascii');
  block.write(fields.type, 156, 'ascii');
  if (fields.linkname) block.write(fields.linkname, 157, 100, 'utf8');
  block.write('ustar\0', 257, 'ascii');
  block.write('00', 263, 'ascii');
  block.write(fields.uid === 0 ? 'root' : '', 265, 32, 'ascii');
  block.write(fields.gid === 0 ? 'root' : '', 297, 32, 'ascii');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

export class TarWriter {
  private readonly fd: number;
  private readonly hash: Hash = createHash('sha256');
  private size = 0;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'w');
  }

  private write(buffer: Buffer): void {
    writeSync(this.fd, buffer);
    this.hash.update(buffer);
    this.size += buffer.length;
  }

  private pad(length: number): void {
    const rest = length % BLOCK;
    if (rest) this.write(Buffer.alloc(BLOCK - rest));
  }

  private entryHeader(path: string, fields: { mode: number; uid: number; gid: number; size: number; type: string; linkname?: string }): void {
    const records: string[] = [];
    if (Buffer.byteLength(path) > 99) records.push(paxRecord('path', path));
    if (fields.linkname && Buffer.byteLength(fields.linkname) > 99) records.push(paxRecord('linkpath', fields.linkname));
    if (records.length) {
      const pax = Buffer.from(records.join(''), 'utf8');
      this.write(header('PaxHeader', { mode: 0o644, uid: 0, gid: 0, size: pax.length, type: 'x' }));
      this.write(pax);
      this.pad(pax.length);
    }
    this.write(header(path.slice(0, 99), { ...fields, linkname: fields.linkname?.slice(0, 99) }));
  }

  add(entry: TarEntry): void {
    const path = entry.path.replace(/^\/+/, '');
    switch (entry.type) {
      case 'dir':
        this.entryHeader(path.endsWith('/') ? path : `${path}/`, { mode: entry.mode ?? 0o755, uid: entry.uid ?? 0, gid: entry.gid ?? 0, size: 0, type: '5' });
        return;
      case 'symlink':
        this.entryHeader(path, { mode: 0o777, uid: 0, gid: 0, size: 0, type: '2', linkname: entry.target });
        return;
      case 'file':
        this.entryHeader(path, { mode: entry.mode ?? 0o644, uid: entry.uid ?? 0, gid: entry.gid ?? 0, size: entry.data.length, type: '0' });
        this.write(entry.data);
        this.pad(entry.data.length);
        return;
      case 'copy': {
        const source = openSync(entry.source, 'r');
        try {
          const stat = fstatSync(source);
          this.entryHeader(path, { mode: entry.mode ?? stat.mode, uid: entry.uid ?? 0, gid: entry.gid ?? 0, size: stat.size, type: '0' });
          const chunk = Buffer.alloc(1 << 20);
          let left = stat.size;
          while (left > 0) {
            const read = readSync(source, chunk, 0, Math.min(chunk.length, left), null);
            if (read <= 0) throw new Error(`${entry.source} shrank while it was being copied`);
            this.write(chunk.subarray(0, read));
            left -= read;
          }
          this.pad(stat.size);
        } finally {
          closeSync(source);
        }
        return;
      }
    }
  }

  /** Ends the archive; its sha256 (hex) and size. */
  close(): { sha256: string; size: number } {
    this.write(Buffer.alloc(BLOCK * 2));
    closeSync(this.fd);
    return { sha256: this.hash.digest('hex'), size: this.size };
  }
}
