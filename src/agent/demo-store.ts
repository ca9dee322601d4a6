/**
 * The demo online store behind the default agent: customers and orders (owner, items, status,
 * address), seeded per tenant from src/demo/store-seed.json on first use and kept as one JSON file
 * per tenant under `<dataDir>/demo-store/`. A user the seed does not know gets two sample orders
 * of their own on first contact, so the demo is useful for any signed-in user; ownership is still
 * enforced by the tool guard, so nobody reaches another user's orders.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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

/**
 * Opens the demo store under `dataDir`. With `persist: false` everything stays in memory (tests).
 *
 * @example
 * ```ts
 * const store = openDemoStore({ dataDir: './.keel' });
 * store.ordersOf('acme', 'alice').map((o) => o.id); // ['1042', '1043', '1044', '1045']
 * ```
 */
export function openDemoStore(options: { readonly dataDir: string; readonly seed?: DemoSeed; readonly persist?: boolean }): DemoStore {
  const seed = options.seed ?? loadDemoSeed();
  const persist = options.persist ?? true;
  const dir = join(options.dataDir, 'demo-store');
  const tenants = new Map<string, TenantData>();

  const fileOf = (tenant: string) => join(dir, `${tenant}.json`);
  const save = (tenant: string, data: TenantData) => {
    if (!persist) return;
    mkdirSync(dir, { recursive: true });
    const tmp = `${fileOf(tenant)}.tmp`;
    writeFileSync(tmp, JSON.stringify(data, null, 1), { mode: 0o600 });
    renameSync(tmp, fileOf(tenant));
  };
  const load = (tenant: string): TenantData => {
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
    if (!data) {
      data = { customers: structuredClone([...seed.customers]), orders: structuredClone([...seed.orders]), tickets: [], nextOrderId: 5001, nextTicket: 1 };
      save(tenant, data);
    }
    tenants.set(tenant, data);
    return data;
  };

  return {
    info: seed.store,
    order: (tenant, orderId) => load(tenant).orders.find((o) => o.id === orderId),
    ownerOf: (tenant, orderId) => load(tenant).orders.find((o) => o.id === orderId)?.owner,
    ordersOf(tenant, user) {
      const data = load(tenant);
      const own = data.orders.filter((o) => o.owner === user);
      if (own.length > 0 || data.customers.some((c) => c.id === user) || !isValidId(user)) return own;
      data.customers.push({ id: user, name: user, email: '' });
      for (const template of seed.guestOrders) data.orders.push({ ...structuredClone(template), id: String(data.nextOrderId++), owner: user } as DemoOrder);
      save(tenant, data);
      return data.orders.filter((o) => o.owner === user);
    },
    update(tenant, orderId, change) {
      const data = load(tenant);
      const order = data.orders.find((o) => o.id === orderId);
      if (!order) throw new KeelError('forbidden', 'no such order');
      change(order);
      save(tenant, data);
      return order;
    },
    addTicket(tenant, user, kind, reason, summary) {
      const data = load(tenant);
      const id = `${kind === 'ticket' ? 'T' : 'CB'}-${String(data.nextTicket++).padStart(5, '0')}`;
      data.tickets.push({ id, user, kind, reason, summary });
      save(tenant, data);
      return id;
    },
    nextReference(tenant, prefix) {
      const data = load(tenant);
      const id = `${prefix}-${String(data.nextTicket++).padStart(5, '0')}`;
      save(tenant, data);
      return id;
    },
  };
}
