// A check of the LMDB file header before the file is handed to LMDB.
//
// LMDB trusts its file: pages are not checksummed, and opening a file whose
// meta pages are garbage crashes the process (SIGSEGV) instead of returning an
// error. Both meta pages (pages 0 and 1) must carry the LMDB magic number; this
// catches a file overwritten, zeroed or truncated, not damage deeper in the tree.

import { open as openFile } from 'node:fs/promises';

const metaMagic = 0xbeefc0de;
/** Page header (lmdb-js's LMDB build) before the meta fields. */
const pageHeaderBytes = 24;
/** The free-list database record follows magic, version, address and map size; its first field holds the page size. */
const pageSizeOffset = pageHeaderBytes + 24;

/** Returns why the file is not a usable LMDB file, or undefined when its header is sound (or the file is new and empty). */
export async function lmdbHeaderProblem(path: string): Promise<string | undefined> {
  const file = await openFile(path, 'r');
  try {
    const { size } = await file.stat();
    if (size === 0) return undefined;
    const first = Buffer.alloc(pageSizeOffset + 4);
    await file.read(first, 0, first.length, 0);
    if (first.readUInt32LE(pageHeaderBytes) !== metaMagic) return 'not an LMDB file (first meta page has no LMDB magic number)';
    const pageSize = first.readUInt32LE(pageSizeOffset);
    if (pageSize < 512 || pageSize > 65_536 || (pageSize & (pageSize - 1)) !== 0) return `implausible page size ${pageSize}`;
    if (size < pageSize * 2) return `truncated (${size} bytes, less than two ${pageSize}-byte pages)`;
    const second = Buffer.alloc(4);
    await file.read(second, 0, 4, pageSize + pageHeaderBytes);
    if (second.readUInt32LE(0) !== metaMagic) return 'second meta page has no LMDB magic number';
    return undefined;
  } finally {
    await file.close();
  }
}
