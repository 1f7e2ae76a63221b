// The e2e's test wallet, injected into every page before the page's own scripts
// run (page.addInitScript), the way a browser extension wallet injects itself.
// It registers through the Wallet Standard's own protocol (the
// wallet-standard:register-wallet event, and again on wallet-standard:app-ready
// for an app that starts listening later), so the page finds it with
// @wallet-standard/app's getWallets() exactly as it finds Phantom or Solflare.
// Signing goes out of the page to Node (window.__gpumktTestWalletSign, a
// function e2e.mjs exposes), where a Keypair signs the transaction's message:
// no key material is ever inside the page. A wallet made with
// `sendsItself` offers only solana:signAndSendTransaction, as some wallets do:
// Node signs and sends it (window.__gpumktTestWalletSignAndSend) and the page
// gets back only the signature.
//
// Evaluated with one argument: { name, address, publicKey: number[], sendsItself?: boolean }.
(({ name, address, publicKey, sendsItself = false }) => {
  const chains = ["solana:localnet", "solana:devnet", "solana:testnet", "solana:mainnet"];
  const account = Object.freeze({
    address,
    publicKey: Uint8Array.from(publicKey),
    chains,
    features: [sendsItself ? "solana:signAndSendTransaction" : "solana:signTransaction"],
    label: name,
  });
  let connected = false;
  const listeners = { change: new Set() };
  const emit = (event, props) => listeners[event]?.forEach((l) => l(props));
  const icon =
    "data:image/svg+xml;base64," +
    btoa('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#8e44ad"/></svg>');
  const wallet = {
    version: "1.0.0",
    name,
    icon,
    chains,
    get accounts() {
      return connected ? [account] : [];
    },
    features: {
      "standard:connect": {
        version: "1.0.0",
        connect: async () => {
          connected = true;
          emit("change", { accounts: [account] });
          return { accounts: [account] };
        },
      },
      "standard:disconnect": {
        version: "1.0.0",
        disconnect: async () => {
          connected = false;
          emit("change", { accounts: [] });
        },
      },
      "standard:events": {
        version: "1.0.0",
        on: (event, listener) => {
          (listeners[event] ??= new Set()).add(listener);
          return () => listeners[event].delete(listener);
        },
      },
    },
  };
  const check = (input) => {
    if (!connected) throw new Error(`${name}: not connected`);
    if (input.account.address !== address) throw new Error(`${name}: no account ${input.account.address}`);
  };
  if (sendsItself) {
    wallet.features["solana:signAndSendTransaction"] = {
      version: "1.0.0",
      supportedTransactionVersions: ["legacy", 0],
      signAndSendTransaction: async (...inputs) => {
        const outputs = [];
        for (const input of inputs) {
          check(input);
          const signature = await window.__gpumktTestWalletSignAndSend(Array.from(input.transaction), input.chain);
          outputs.push({ signature: Uint8Array.from(signature) });
        }
        return outputs;
      },
    };
  } else {
    wallet.features["solana:signTransaction"] = {
      version: "1.0.0",
      supportedTransactionVersions: ["legacy", 0],
      signTransaction: async (...inputs) => {
        const outputs = [];
        for (const input of inputs) {
          check(input);
          const signed = await window.__gpumktTestWalletSign(Array.from(input.transaction));
          outputs.push({ signedTransaction: Uint8Array.from(signed) });
        }
        return outputs;
      },
    };
  }
  const register = ({ register: r }) => r(wallet);
  window.dispatchEvent(new CustomEvent("wallet-standard:register-wallet", { detail: register }));
  window.addEventListener("wallet-standard:app-ready", ({ detail }) => register(detail));
});
