// Run with: cargo run --release -- run examples/hello.ts
interface Order {
  id: number;
  total: number;
  status: "paid" | "refunded";
}

const orders: Order[] = [
  { id: 1, total: 120, status: "paid" },
  { id: 2, total: 80, status: "refunded" },
  { id: 3, total: 45.5, status: "paid" },
];

const paid = orders.filter((o) => o.status === "paid");
console.log(`${paid.length} paid orders`);
await new Promise((resolve) => setTimeout(resolve, 10));
return { count: paid.length, revenue: paid.reduce((sum, o) => sum + o.total, 0), id: crypto.randomUUID().length };
