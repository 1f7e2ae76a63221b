// Wallets found through the Wallet Standard: Phantom, Solflare, Backpack and the
// e2e's test wallet all register with `@wallet-standard/app`'s registry, and the
// page talks to each one only through the features it declares
// (standard:connect, then solana:signTransaction, or solana:signAndSendTransaction
// when the wallet insists on sending itself). No private key reaches the page.
import { useEffect, useState } from "react";
import { getWallets } from "@wallet-standard/app";
import type { IdentifierString, Wallet, WalletAccount } from "@wallet-standard/base";
import { StandardConnect, type StandardConnectFeature } from "@wallet-standard/features";
import {
  SolanaSignAndSendTransaction,
  SolanaSignTransaction,
  type SolanaSignAndSendTransactionFeature,
  type SolanaSignTransactionFeature,
} from "@solana/wallet-standard-features";

export class WalletError extends Error {
  constructor(
    readonly wallet: string,
    message: string,
  ) {
    super(`${wallet}: ${message}`);
    this.name = "WalletError";
  }
}

/** The Wallet Standard chain id for the dashboard's `cluster`. */
export function chainFor(cluster: string): IdentifierString {
  const c = cluster.toLowerCase();
  if (c.includes("devnet")) return "solana:devnet";
  if (c.includes("testnet")) return "solana:testnet";
  if (c.includes("mainnet")) return "solana:mainnet";
  return "solana:localnet";
}

/** A wallet the page can post with: it connects and signs (or signs and sends). */
export function usable(w: Wallet): boolean {
  const f = w.features as Record<string, unknown>;
  return StandardConnect in f && (SolanaSignTransaction in f || SolanaSignAndSendTransaction in f);
}

/** The registered wallets, kept current as wallets register and unregister. */
export function useWallets(): readonly Wallet[] {
  const [wallets, setWallets] = useState<readonly Wallet[]>(() => getWallets().get());
  useEffect(() => {
    const registry = getWallets();
    const update = () => setWallets(registry.get());
    const offs = [registry.on("register", update), registry.on("unregister", update)];
    update();
    return () => offs.forEach((off) => off());
  }, []);
  return wallets;
}

export async function connect(w: Wallet): Promise<WalletAccount> {
  const feature = (w.features as Partial<StandardConnectFeature>)[StandardConnect];
  if (!feature) throw new WalletError(w.name, "does not offer standard:connect");
  const { accounts } = await feature.connect();
  const account = accounts[0] ?? w.accounts[0];
  if (!account) throw new WalletError(w.name, "connected but shared no account");
  return account;
}

/**
 * Has the wallet sign `tx` (a serialized, unsigned transaction). With
 * solana:signTransaction the page gets the signed bytes and sends them itself
 * through `send`; with only solana:signAndSendTransaction the wallet sends and
 * the page gets the signature. Either way the result is the signature (base58).
 */
export async function signAndSend(
  w: Wallet,
  account: WalletAccount,
  tx: Uint8Array,
  chain: IdentifierString,
  send: (signed: Uint8Array) => Promise<string>,
  toBase58: (bytes: Uint8Array) => string,
): Promise<{ signature: string; signed?: Uint8Array }> {
  const f = w.features as Partial<SolanaSignTransactionFeature & SolanaSignAndSendTransactionFeature>;
  const sign = f[SolanaSignTransaction];
  if (sign) {
    const [out] = await sign.signTransaction({ account, transaction: tx, chain });
    if (!out?.signedTransaction) throw new WalletError(w.name, "returned no signed transaction");
    const signed = new Uint8Array(out.signedTransaction);
    return { signature: await send(signed), signed };
  }
  const sas = f[SolanaSignAndSendTransaction];
  if (sas) {
    const [out] = await sas.signAndSendTransaction({ account, transaction: tx, chain });
    if (!out?.signature) throw new WalletError(w.name, "returned no signature");
    return { signature: toBase58(new Uint8Array(out.signature)) };
  }
  throw new WalletError(w.name, "offers neither solana:signTransaction nor solana:signAndSendTransaction");
}
