import { AgentCatalog, DEFAULT_AGENT } from '../../../src/services/agent/agent-catalog';
import { BuiltinProvider } from '../../../src/services/agent/builtin-provider';
import { OpenAiProvider } from '../../../src/services/agent/openai-provider';
import { caught } from '../helpers';

describe('AgentCatalog', () => {
  const builtin = new BuiltinProvider();
  const openai = new OpenAiProvider({ baseUrl: 'http://127.0.0.1:1/v1', model: 'llama3' });

  it('defaults to the main agent on the built-in provider', () => {
    const c = new AgentCatalog({ providers: [builtin] });
    expect(c.defaultAgentId).toBe('main');
    expect(c.list()).toEqual([DEFAULT_AGENT]);
    expect(c.get()).toEqual(DEFAULT_AGENT);
    expect(c.get('')).toEqual(DEFAULT_AGENT);
    const { agent, provider } = c.resolve('main');
    expect(agent.model).toBe('builtin-echo');
    expect(provider).toBe(builtin);
  });

  it('refuses an unknown agent with UNKNOWN_AGENT naming the known ones', async () => {
    const c = new AgentCatalog({ providers: [builtin] });
    const err = await caught(() => c.get('ghost'));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.reason).toBe('UNKNOWN_AGENT');
    expect(err.message).toContain('ghost');
    expect(err.message).toContain('main');
  });

  it('lists models across providers and agents without duplicates', () => {
    const c = new AgentCatalog({
      providers: [builtin, openai],
      agents: [DEFAULT_AGENT, { agentId: 'ops', name: 'Ops', provider: 'openai', model: 'qwen2' }, { agentId: 'ops2', name: 'Ops 2', provider: 'openai', model: 'llama3' }],
    });
    expect(c.models()).toEqual([
      { modelId: 'builtin-echo', provider: 'builtin' },
      { modelId: 'llama3', provider: 'openai' },
      { modelId: 'qwen2', provider: 'openai' },
    ]);
    expect(c.resolve('ops').provider).toBe(openai);
  });

  it('checks its configuration up front', async () => {
    expect((await caught(() => new AgentCatalog({ providers: [builtin], agents: [{ agentId: 'x', name: 'X', provider: 'openai', model: 'm' }] }))).reason).toBe(
      'UNKNOWN_PROVIDER',
    );
    expect((await caught(() => new AgentCatalog({ providers: [builtin, builtin] }))).reason).toBe('DUPLICATE_PROVIDER');
    expect((await caught(() => new AgentCatalog({ providers: [builtin], agents: [DEFAULT_AGENT, DEFAULT_AGENT] }))).reason).toBe('DUPLICATE_AGENT');
    expect((await caught(() => new AgentCatalog({ providers: [builtin], agents: [] }))).reason).toBe('NO_AGENTS');
    expect((await caught(() => new AgentCatalog({ providers: [builtin], defaultAgentId: 'nope' }))).reason).toBe('UNKNOWN_AGENT');
  });

  it('uses the first agent as default when there is no main', () => {
    const c = new AgentCatalog({ providers: [builtin], agents: [{ agentId: 'solo', name: 'Solo', provider: 'builtin', model: 'builtin-echo' }] });
    expect(c.defaultAgentId).toBe('solo');
  });
});
