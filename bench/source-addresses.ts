/**
 * Source addresses for benches that open many connections to a broker on 127.0.0.1. The broker caps
 * the sockets of one client address (`connectionsPerAddressMax`, 4,096 by default), and a fleet of
 * devices comes from many addresses anyway: such benches spread their connections over 127.0.0.1–8
 * (all of 127/8 is loopback on Linux) and measure the broker under its default settings. Each address
 * also has its own range of ephemeral ports, which one address runs out of at ~28,000.
 */

/** Loopback addresses a bench's connections are spread over: 10,000 make 1,250 an address. */
export const sourceAddresses = 8;

/** The source address of a bench's `i`-th connection. */
export function sourceAddressOf(i: number): string {
  return `127.0.0.${1 + (i % sourceAddresses)}`;
}
