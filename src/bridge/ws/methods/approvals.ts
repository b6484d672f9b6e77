import { emptyAnswer } from './fixed-answer';
import type { LegacyMethod } from './types';

/**
 * Approval and question queues. Agents here run no shell commands, plugins or
 * system agents that ask for approval, and ask no questions, so every queue is empty
 * (shapes of the real gateway 2026.9.6, quoted per method).
 */
export const APPROVAL_METHODS: readonly LegacyMethod[] = [
  // Real: [] (a bare list).
  emptyAnswer('exec.approval.list', 'operator.approvals', () => []),
  emptyAnswer('plugin.approval.list', 'operator.approvals', () => []),
  emptyAnswer('openclaw.approval.list', 'operator.approvals', () => []),
  // Real: {items: []} (decided approvals).
  emptyAnswer('approval.history', 'operator.approvals', () => ({ items: [] })),
  // Real: {grants: []} (standing exec approvals).
  emptyAnswer('exec.approval.grants.list', 'operator.approvals', () => ({ grants: [] })),
  // Real: {questions: []}.
  emptyAnswer('question.list', 'operator.questions', () => ({ questions: [] })),
  // Real: {path, exists, file:{version, socket, defaults, agents}, hash, resolvedDefaults:{security, ask, askFallback, autoAllowSkills}}.
  // No exec policy file exists here: agents cannot run commands at all.
  emptyAnswer('exec.approvals.get', 'operator.admin', () => ({
    path: '',
    exists: false,
    file: { version: 1, defaults: {}, agents: {} },
    hash: '',
    resolvedDefaults: { security: 'deny', ask: 'off', askFallback: 'deny', autoAllowSkills: false },
  })),
];
