/**
 * The demo online store behind the default agent: customers and orders (owner, items, status,
 * address), seeded per tenant from src/demo/store-seed.json on first use and kept per tenant under
 * `<dataDir>/demo-store/` as a JSON snapshot and a log of the changes since. A user the seed does
 * not know gets two sample orders of their own on first contact, so the demo is useful for any
 * signed-in user; ownership is still enforced by the tool guard, so nobody reaches another user's
 * orders.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import seedJson from '../demo/store-seed.json' with { type: 'json' };
import { KeelError } from '../errors.js';
import { isValidId } from '../types.js';

/** One line of an order. */
export interface OrderItem {
  readonly name: string;
  readonly qty: number;
  readonly price: number;
}

/** Where an order is. */
export type OrderStatus = 'processing' | 'shipped' | 'delivered' | 'cancelled' | 'refund_requested' | 'refunded';

/** An order of the demo store. */
export interface DemoOrder {
  id: string;
  owner: string;
  status: OrderStatus;
  placedAt: string;
  items: OrderItem[];
  total: number;
  address: string;
  shipsBy?: string;
  deliveredAt?: string;
  tracking?: { carrier: string; code: string; eta: string; lastEvent: string };
  refund?: { id: string; amount: number; reason: string; status: 'requested' | 'issued' };
}

/** A customer of the demo store. */
export interface DemoCustomer {
  readonly id: string;
  readonly name: string;
  readonly email: string;
}

/** The seed file's shape. */
export interface DemoSeed {
  readonly store: { readonly name: string; readonly currency: string; readonly returnDays: number; readonly approvalAboveAmount: number };
  readonly customers: readonly DemoCustomer[];
  readonly orders: readonly DemoOrder[];
  readonly guestOrders: readonly Omit<DemoOrder, 'id' | 'owner'>[];
}

interface TenantData {
  customers: DemoCustomer[];
  orders: DemoOrder[];
  tickets: { id: string; user: string; kind: 'ticket' | 'callback'; reason: string; summary: string }[];
  nextOrderId: number;
  nextTicket: number;
}

/** The demo store. */
export interface DemoStore {
  readonly info: DemoSeed['store'];
  /** The order if it exists in the tenant (any owner). */
  order(tenant: string, orderId: string): DemoOrder | undefined;
  /** The owner of an order, for the tool guard's ownership check. */
  ownerOf(tenant: string, orderId: string): string | undefined;
  /** A user's orders; an unknown user first gets sample orders. */
  ordersOf(tenant: string, user: string): DemoOrder[];
  /** Applies a change to an order and saves the tenant. */
  update(tenant: string, orderId: string, change: (order: DemoOrder) => void): DemoOrder;
  /** Opens a ticket or schedules a callback. */
  addTicket(tenant: string, user: string, kind: 'ticket' | 'callback', reason: string, summary: string): string;
  /** Allocates a reference (refunds). */
  nextReference(tenant: string, prefix: string): string;
}

/** The bundled seed (src/demo/store-seed.json), as a fresh copy. */
function loadDemoSeed(): DemoSeed {
  return structuredClone(seedJson) as unknown as DemoSeed;
}

/** One change of a tenant's data, as appended to its log. */
type Change =
  | { readonly t: 'customer'; readonly customer: DemoCustomer; readonly orders: readonly DemoOrder[]; readonly nextOrderId: number }
  | { readonly t: 'order'; readonly order: DemoOrder }
  | { readonly t: 'ticket'; readonly ticket: TenantData['tickets'][number]; readonly nextTicket: number }
  | { readonly t: 'ref'; readonly nextTicket: number };

/** A tenant's data with its lookups: orders by id and by owner, customers by id. */
interface TenantState {
  readonly data: TenantData;
  readonly byId: Map<string, DemoOrder>;
  readonly byOwner: Map<string, DemoOrder[]>;
  readonly customers: Set<string>;
  /** Changes in the log since the last snapshot. */
  logged: number;
}

/** Changes logged before the tenant's snapshot is written again and its log emptied. */
export const DEMO_STORE_COMPACT_AFTER = 10_000;

function indexed(data: TenantData): TenantState {
  const state: TenantState = { data, byId: new Map(), byOwner: new Map(), customers: new Set(data.customers.map((c) => c.id)), logged: 0 };
  for (const order of data.orders) addOrder(state, order);
  return state;
}

function addOrder(state: TenantState, order: DemoOrder): void {
  state.byId.set(order.id, order);
  const own = state.byOwner.get(order.owner);
  if (own) own.push(order);
  else state.byOwner.set(order.owner, [order]);
}

/** Applies one change: as it happens, and as a restart replays it from the log. */
function apply(state: TenantState, change: Change): void {
  const { data } = state;
  if (change.t === 'customer') {
    if (!state.customers.has(change.customer.id)) {
      data.customers.push(change.customer);
      state.customers.add(change.customer.id);
    }
    for (const order of change.orders) {
      if (state.byId.has(order.id)) continue;
      data.orders.push(order);
      addOrder(state, order);
    }
    data.nextOrderId = Math.max(data.nextOrderId, change.nextOrderId);
  } else if (change.t === 'order') {
    const current = state.byId.get(change.order.id);
    if (!current || current.owner !== change.order.owner) return;
    for (const key of Object.keys(current) as Array<keyof DemoOrder>) if (!(key in change.order)) delete current[key];
    Object.assign(current, change.order);
  } else if (change.t === 'ticket') {
    data.tickets.push(change.ticket);
    data.nextTicket = Math.max(data.nextTicket, change.nextTicket);
  } else {
    data.nextTicket = Math.max(data.nextTicket, change.nextTicket);
  }
}

/**
 * Opens the demo store under `dataDir`. With `persist: false` everything stays in memory (tests).
 *
 * Each tenant is a snapshot, `<tenant>.json`, and a log of the changes since, `<tenant>.log` (one
 * JSON line per change, appended as it happens): a change writes a few hundred bytes, not the
 * whole tenant, whose snapshot grows by two orders with every new customer. The snapshot is
 * written again, and the log emptied, when a tenant is opened with a log of at least
 * {@link DEMO_STORE_COMPACT_AFTER} changes or reaches that many while open. A line cut short by a
 * crash is the last one, and is skipped.
 *
 * @example
 * ```ts
 * const store = openDemoStore({ dataDir: './.keel' });
 * store.ordersOf('acme', 'alice').map((o) => o.id); // ['1042', '1043', '1044', '1045']
 * ```
 */
export function openDemoStore(options: { readonly dataDir: string; readonly seed?: DemoSeed; readonly persist?: boolean; readonly compactAfter?: number }): DemoStore {
  const seed = options.seed ?? loadDemoSeed();
  const persist = options.persist ?? true;
  const compactAfter = options.compactAfter ?? DEMO_STORE_COMPACT_AFTER;
  if (!Number.isInteger(compactAfter) || compactAfter < 1) throw new TypeError('option compactAfter must be a positive integer');
  const dir = join(options.dataDir, 'demo-store');
  const tenants = new Map<string, TenantState>();

  const fileOf = (tenant: string) => join(dir, `${tenant}.json`);
  const logOf = (tenant: string) => join(dir, `${tenant}.log`);
  /** Writes the tenant's snapshot (through a temporary file) and empties its log. */
  const snapshot = (tenant: string, state: TenantState) => {
    if (!persist) return;
    mkdirSync(dir, { recursive: true });
    const tmp = `${fileOf(tenant)}.tmp`;
    writeFileSync(tmp, JSON.stringify(state.data), { mode: 0o600 });
    renameSync(tmp, fileOf(tenant));
    rmSync(logOf(tenant), { force: true });
    state.logged = 0;
  };
  /** Applies a change, as a restart replays it, and appends it to the tenant's log. */
  const commit = (tenant: string, state: TenantState, change: Change) => {
    apply(state, change);
    record(tenant, state, change);
  };
  const record = (tenant: string, state: TenantState, change: Change) => {
    if (!persist) return;
    appendFileSync(logOf(tenant), `${JSON.stringify(change)}\n`, { mode: 0o600 });
    if (++state.logged >= compactAfter) snapshot(tenant, state);
  };
  const load = (tenant: string): TenantState => {
    if (!isValidId(tenant)) throw new KeelError('forbidden', 'invalid tenant');
    const cached = tenants.get(tenant);
    if (cached) return cached;
    let data: TenantData | undefined;
    if (persist && existsSync(fileOf(tenant))) {
      try {
        data = JSON.parse(readFileSync(fileOf(tenant), 'utf8')) as TenantData;
      } catch {
        data = undefined;
      }
    }
    const fresh = !data;
    const state = indexed(data ?? { customers: structuredClone([...seed.customers]), orders: structuredClone([...seed.orders]), tickets: [], nextOrderId: 5001, nextTicket: 1 });
    if (persist && !fresh && existsSync(logOf(tenant))) {
      for (const line of readFileSync(logOf(tenant), 'utf8').split('\n')) {
        if (line === '') continue;
        let change: Change;
        try {
          change = JSON.parse(line) as Change;
        } catch {
          continue; // the last line, cut short by a crash
        }
        apply(state, change);
        state.logged++;
      }
    }
    tenants.set(tenant, state);
    if (fresh || state.logged >= compactAfter) snapshot(tenant, state);
    return state;
  };
  const owned = (state: TenantState, user: string): DemoOrder[] => [...(state.byOwner.get(user) ?? [])];

  return {
    info: seed.store,
    order: (tenant, orderId) => load(tenant).byId.get(orderId),
    ownerOf: (tenant, orderId) => load(tenant).byId.get(orderId)?.owner,
    ordersOf(tenant, user) {
      const state = load(tenant);
      if (state.byOwner.has(user) || state.customers.has(user) || !isValidId(user)) return owned(state, user);
      const first = state.data.nextOrderId;
      const orders = seed.guestOrders.map((template, i) => ({ ...structuredClone(template), id: String(first + i), owner: user }) as DemoOrder);
      commit(tenant, state, { t: 'customer', customer: { id: user, name: user, email: '' }, orders, nextOrderId: first + orders.length });
      return owned(state, user);
    },
    update(tenant, orderId, change) {
      const state = load(tenant);
      const order = state.byId.get(orderId);
      if (!order) throw new KeelError('forbidden', 'no such order');
      const { id, owner } = order;
      change(order);
      // Who owns an order and its id are the guard's ground truth: a change does not move them.
      order.id = id;
      order.owner = owner;
      record(tenant, state, { t: 'order', order });
      return order;
    },
    addTicket(tenant, user, kind, reason, summary) {
      const state = load(tenant);
      const id = `${kind === 'ticket' ? 'T' : 'CB'}-${String(state.data.nextTicket).padStart(5, '0')}`;
      commit(tenant, state, { t: 'ticket', ticket: { id, user, kind, reason, summary }, nextTicket: state.data.nextTicket + 1 });
      return id;
    },
    nextReference(tenant, prefix) {
      const state = load(tenant);
      const id = `${prefix}-${String(state.data.nextTicket).padStart(5, '0')}`;
      commit(tenant, state, { t: 'ref', nextTicket: state.data.nextTicket + 1 });
      return id;
    },
  };
}
