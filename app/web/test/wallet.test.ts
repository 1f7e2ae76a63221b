// The page's side of the Wallet Standard against fake wallets: which wallets it
// offers, connecting, and both signing paths (sign then send itself, or let the
// wallet send), with the errors a broken wallet earns.
import { describe, expect, it } from "vitest";
import type { Wallet, WalletAccount } from "@wallet-standard/base";
import { chainFor, connect, signAndSend, usable, WalletError } from "../src/wallet";

const account: WalletAccount = {
  address: "Buyer111111111111111111111111111111111111111",
  publicKey: new Uint8Array(32),
  chains: ["solana:localnet"],
  features: [],
};

function wallet(features: Record<string, unknown>): Wallet {
  return { version: "1.0.0", name: "fake", icon: "data:image/svg+xml;base64,", chains: ["solana:localnet"], accounts: [], features } as unknown as Wallet;
}

const connectFeature = { "standard:connect": { version: "1.0.0", connect: async () => ({ accounts: [account] }) } };

describe("usable", () => {
  it("offers wallets that connect and sign Solana transactions", () => {
    expect(usable(wallet({ ...connectFeature, "solana:signTransaction": {} }))).toBe(true);
    expect(usable(wallet({ ...connectFeature, "solana:signAndSendTransaction": {} }))).toBe(true);
    expect(usable(wallet({ ...connectFeature }))).toBe(false);
    expect(usable(wallet({ "solana:signTransaction": {} }))).toBe(false);
  });
});

it("connect returns the wallet's first account, or says why not", async () => {
  expect(await connect(wallet(connectFeature))).toBe(account);
  await expect(connect(wallet({}))).rejects.toThrow(WalletError);
  const empty = wallet({ "standard:connect": { version: "1.0.0", connect: async () => ({ accounts: [] }) } });
  await expect(connect(empty)).rejects.toThrow(/shared no account/);
});

describe("signAndSend", () => {
  const tx = new Uint8Array([1, 2, 3]);
  it("signs, then sends the signed bytes itself", async () => {
    let given: unknown;
    const w = wallet({
      "solana:signTransaction": {
        signTransaction: async (input: { transaction: Uint8Array; chain: string; account: WalletAccount }) => {
          given = input;
          return [{ signedTransaction: new Uint8Array([9, ...input.transaction]) }];
        },
      },
    });
    let sent: Uint8Array | undefined;
    const r = await signAndSend(w, account, tx, "solana:localnet", async (b) => ((sent = b), "SIG"), () => "unused");
    expect(r.signature).toBe("SIG");
    expect([...sent!]).toEqual([9, 1, 2, 3]);
    expect(given).toMatchObject({ account, chain: "solana:localnet" });
  });

  it("lets a wallet that only signs and sends do so", async () => {
    const w = wallet({
      "solana:signAndSendTransaction": { signAndSendTransaction: async () => [{ signature: new Uint8Array([7, 7]) }] },
    });
    const r = await signAndSend(w, account, tx, "solana:devnet", async () => "never", (b) => `b58:${[...b].join(",")}`);
    expect(r).toEqual({ signature: "b58:7,7" });
  });

  it("refuses a wallet that returns nothing or cannot sign", async () => {
    const silent = wallet({ "solana:signTransaction": { signTransaction: async () => [] } });
    await expect(signAndSend(silent, account, tx, "solana:localnet", async () => "x", String)).rejects.toThrow(/no signed transaction/);
    await expect(signAndSend(wallet({}), account, tx, "solana:localnet", async () => "x", String)).rejects.toThrow(/neither/);
  });
});

it("chainFor maps the dashboard's cluster to a Wallet Standard chain", () => {
  expect(chainFor("localnet")).toBe("solana:localnet");
  expect(chainFor("embedded")).toBe("solana:localnet");
  expect(chainFor("https://api.devnet.solana.com")).toBe("solana:devnet");
  expect(chainFor("https://api.mainnet-beta.solana.com")).toBe("solana:mainnet");
});
