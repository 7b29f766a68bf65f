/** The executor for a node config: this machine, or SSH. */
import type { NodeConfig } from '../config/nodes.js';
import type { Executor, NodeNotice } from './executor.js';
import { LocalExecutor } from './local.js';
import { SshExecutor } from './ssh.js';

export function defaultExecutorFactory(node: NodeConfig, notice?: NodeNotice): Executor {
  return node.type === 'local' ? new LocalExecutor(node.name) : new SshExecutor(node, process.env, notice);
}
