// A V8 heap snapshot (.heapsnapshot JSON) summarised as count and self size per group, where a
// group is a constructor name for objects and the node type (plus name where it tells something)
// for everything else; and the difference of two such summaries.

import { readFileSync } from 'node:fs';

export interface HeapGroup {
  count: number;
  bytes: number;
}

export type HeapGroups = Map<string, HeapGroup>;

interface SnapshotFile {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** The group a node counts under: "Socket", "(closure) onData", "(string)", "(array) (object properties)"… */
function groupName(type: string, name: string): string {
  switch (type) {
    case 'object':
    case 'native':
      return name;
    case 'closure':
      return `(closure) ${name === '' ? 'anonymous' : name}`;
    case 'string':
    case 'concatenated string':
    case 'sliced string':
      return '(string)';
    case 'number':
      return '(heap number)';
    case 'code':
      return '(code)';
    case 'array':
    case 'hidden':
    case 'object shape':
      return `(${type}) ${name}`;
    default:
      return `(${type})`;
  }
}

export interface ReadOptions {
  /**
   * Name each node after what holds it as well ("Object ← Connection.client"), and count only the
   * nodes whose id is not in `earlierIds` (ids are stable between snapshots of one process): where
   * the objects a connection added hang.
   */
  byRetainer?: { earlierIds: Set<number> };
}

export interface HeapSummary {
  groups: HeapGroups;
  /** Every node id in the snapshot. */
  ids: Set<number>;
}

/** Reads a snapshot file and sums count and self size per group. */
export function readHeapSummary(path: string, options: ReadOptions = {}): HeapSummary {
  const file = JSON.parse(readFileSync(path, 'utf8')) as SnapshotFile;
  const meta = file.snapshot.meta;
  const fields = meta.node_fields;
  const typeNames = meta.node_types[0];
  const stride = fields.length;
  const typeField = fields.indexOf('type');
  const nameField = fields.indexOf('name');
  const idField = fields.indexOf('id');
  const sizeField = fields.indexOf('self_size');
  const nodes = file.nodes;
  const strings = file.strings;
  const nodeGroup = (index: number): string => groupName(typeNames[nodes[index + typeField]!] ?? 'unknown', strings[nodes[index + nameField]!] ?? '');
  const retainerOf = options.byRetainer === undefined ? undefined : firstRetainers(file, nodeGroup);
  const groups: HeapGroups = new Map();
  const ids = new Set<number>();
  for (let index = 0; index < nodes.length; index += stride) {
    const id = nodes[index + idField]!;
    ids.add(id);
    const type = typeNames[nodes[index + typeField]!] ?? 'unknown';
    if (type === 'synthetic') continue; // roots and categories, not memory
    if (options.byRetainer?.earlierIds.has(id)) continue;
    let key = nodeGroup(index);
    if (retainerOf !== undefined) key = `${key} ← ${retainerOf.get(index / stride) ?? '?'}`;
    const group = groups.get(key);
    const size = nodes[index + sizeField]!;
    if (group === undefined) groups.set(key, { count: 1, bytes: size });
    else {
      group.count++;
      group.bytes += size;
    }
  }
  return { groups, ids };
}

/** For each node (by ordinal), "OwnerGroup.edgeName" of its first strong retainer. */
function firstRetainers(file: SnapshotFile, nodeGroup: (index: number) => string): Map<number, string> {
  const meta = file.snapshot.meta;
  const nodeStride = meta.node_fields.length;
  const edgeStride = meta.edge_fields.length;
  const edgeCountField = meta.node_fields.indexOf('edge_count');
  const edgeTypeField = meta.edge_fields.indexOf('type');
  const edgeNameField = meta.edge_fields.indexOf('name_or_index');
  const edgeToField = meta.edge_fields.indexOf('to_node');
  const edgeTypes = meta.edge_types[0];
  const nodeTypes = meta.node_types[0];
  const typeField = meta.node_fields.indexOf('type');
  const { nodes, edges, strings } = file;
  const retainers = new Map<number, string>();
  let edgeIndex = 0;
  for (let index = 0; index < nodes.length; index += nodeStride) {
    const count = nodes[index + edgeCountField]!;
    const ownerType = nodeTypes[nodes[index + typeField]!];
    for (let edge = 0; edge < count; edge++, edgeIndex += edgeStride) {
      if (ownerType === 'synthetic') continue;
      const edgeType = edgeTypes[edges[edgeIndex + edgeTypeField]!];
      if (edgeType === 'weak' || edgeType === 'shortcut') continue;
      const target = edges[edgeIndex + edgeToField]! / nodeStride;
      if (retainers.has(target)) continue;
      // Elements by index would split one kind of holder into thousands of groups: "[]" for all.
      const edgeName = edgeType === 'element' || edgeType === 'hidden' ? '[]' : (strings[edges[edgeIndex + edgeNameField]!] ?? '?');
      retainers.set(target, `${nodeGroup(index)}.${edgeName}`);
    }
  }
  return retainers;
}

export function readHeapGroups(path: string): HeapGroups {
  return readHeapSummary(path).groups;
}

/** after − before, per group; groups that did not change are left out. */
export function diffHeapGroups(before: HeapGroups, after: HeapGroups): HeapGroups {
  const difference: HeapGroups = new Map();
  for (const [key, group] of after) {
    const old = before.get(key) ?? { count: 0, bytes: 0 };
    if (group.count !== old.count || group.bytes !== old.bytes) difference.set(key, { count: group.count - old.count, bytes: group.bytes - old.bytes });
  }
  for (const [key, group] of before) {
    if (!after.has(key)) difference.set(key, { count: -group.count, bytes: -group.bytes });
  }
  return difference;
}

export function totalBytes(groups: HeapGroups): number {
  let total = 0;
  for (const group of groups.values()) total += group.bytes;
  return total;
}
