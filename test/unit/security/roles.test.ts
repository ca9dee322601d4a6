import { describe, expect, it } from 'vitest';
import { KeelError } from '../../../src/errors.js';
import { PERMISSIONS, assertCan, can, checkPermission, permissionsOf, seesRedactedData, type Permission } from '../../../src/security/roles.js';
import { ROLES, tenantId, userId, type Identity, type Role } from '../../../src/types.js';

const who = (role: Role, user = 'u-1', tenant = 'acme'): Identity => ({ tenant: tenantId(tenant), user: userId(user), role });
const customer = who('customer');
const agent = who('agent', 'agent-1');
const engineer = who('engineer', 'eng-1');
const admin = who('admin', 'adm-1');

describe('roles', () => {
  it('customers reach only their own sessions and records', () => {
    expect(can(customer, 'session.read.own', { tenant: 'acme', owner: 'u-1' })).toBe(true);
    expect(checkPermission(customer, 'session.read.own', { tenant: 'acme', owner: 'u-2' })).toBe('ownership');
    expect(checkPermission(customer, 'record.read.own', { tenant: 'acme' })).toBe('ownership');
    expect(checkPermission(customer, 'session.open.own')).toBe('ownership');
    expect(checkPermission(customer, 'session.read.own', { tenant: 'other', owner: 'u-1' })).toBe('tenant');
    expect(checkPermission(customer, 'session.read.any')).toBe('role');
    expect(can(customer, 'inspector.view')).toBe(false);
  });

  it('agents take hand-offs and see unredacted text; engineers see redacted data only; admins erase and configure', () => {
    expect(can(agent, 'handoff.take', { tenant: 'acme' })).toBe(true);
    expect(seesRedactedData(agent)).toBe(false);
    expect(can(agent, 'inspector.view')).toBe(false);

    for (const p of ['inspector.view', 'events.read', 'metrics.read', 'audit.verify'] as const) expect(can(engineer, p), p).toBe(true);
    for (const p of ['user.forget', 'config.change', 'inspector.signal', 'handoff.take', 'pii.view'] as const) expect(can(engineer, p), p).toBe(false);
    expect(seesRedactedData(engineer)).toBe(true);

    for (const p of ['user.forget', 'tenant.erase', 'config.change', 'inspector.view', 'token.issue'] as const) expect(can(admin, p), p).toBe(true);
    expect(seesRedactedData(admin)).toBe(true);
  });

  it('no role crosses a tenant boundary, not even admin', () => {
    for (const role of ROLES) {
      for (const p of permissionsOf(role)) expect(can(who(role), p, { tenant: 'other', owner: 'u-1' }), `${role} ${p}`).toBe(false);
    }
  });

  it('denies by default: unknown permissions, forged roles and malformed identities', () => {
    expect(checkPermission(admin, 'everything' as Permission)).toBe('unknown_permission');
    expect(checkPermission(admin, 'toString' as Permission)).toBe('unknown_permission');
    expect(checkPermission({ ...admin, role: 'root' as Role }, 'config.change')).toBe('invalid_identity');
    expect(checkPermission({ tenant: '', user: 'u', role: 'admin' } as unknown as Identity, 'config.change')).toBe('invalid_identity');
    expect(checkPermission(null as unknown as Identity, 'config.change')).toBe('invalid_identity');
  });

  it('every permission names at least one role and only known roles', () => {
    for (const [p, roles] of Object.entries(PERMISSIONS)) {
      expect(roles.length, p).toBeGreaterThan(0);
      for (const r of roles) expect(ROLES).toContain(r);
    }
  });

  it('assertCan throws forbidden without naming the owner', () => {
    expect(() => assertCan(engineer, 'user.forget')).toThrow(KeelError);
    try {
      assertCan(customer, 'session.read.own', { tenant: 'acme', owner: 'victim-9' });
      expect.unreachable();
    } catch (err) {
      expect((err as KeelError).code).toBe('forbidden');
      expect((err as KeelError).message).not.toContain('victim-9');
      expect((err as KeelError).details).toMatchObject({ rule: 'ownership' });
    }
    expect(() => assertCan(admin, 'config.change', { tenant: 'acme' })).not.toThrow();
  });
});
