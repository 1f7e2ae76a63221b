//! A thin SBF program around gpu-market-ruling, for measuring the ruling math's compute
//! units in a real SBPF VM (`bench/bench.mjs` runs it in LiteSVM). Instruction data picks
//! an operation and its arguments; bulk bytes (a leaf, chunks of a row of A and a column
//! of B) come from account 0, as a staged proof buffer would hold them; a dot product's
//! state lives in account 1 between transactions. Every operation logs its result with
//! `sol_log_64_` so the bench checks it against a value computed off-chain.
//!
//! Not the market's program: the Anchor program calls the same crate functions. There is
//! no Solana SDK here (it needs the platform tools), so the entrypoint parses the loader's
//! input by hand and calls syscalls through the linker's hashed addresses.

#![no_std]
#![allow(linker_messages)]

use gpu_market_ruling::hash::Sha256;
use gpu_market_ruling::{merkle, F32Accumulator, F32Verdict, I8Accumulator, I8Verdict};

/// Syscalls are called through function pointers whose address is the murmur3-32 hash of
/// the syscall's name: sbpf-linker rewrites those calls into named relocations. An
/// `extern "C"` declaration would link and then lose its arguments in the linker's LLVM
/// pass, the optimiser deleting the work that fed it.
const SOL_LOG_64: usize = 0x5c2a_3178;
const SOL_SHA256: usize = 0x11f4_9d86;
const SOL_MEMCPY: usize = 0x717c_c4a3;
const SOL_MEMMOVE: usize = 0x4343_71f8;
const SOL_MEMSET: usize = 0x3770_fb22;
const SOL_MEMCMP: usize = 0x5fdc_de31;

type SolLog64 = unsafe extern "C" fn(u64, u64, u64, u64, u64);
type SolSha256Fn = unsafe extern "C" fn(*const u8, u64, *mut u8) -> u64;

fn log5(a: u64, b: u64, c: u64, d: u64, e: u64) {
    // SAFETY: SOL_LOG_64 is the hashed address of `sol_log_64_`, whose signature this is;
    // it reads only its five register arguments.
    unsafe {
        let f: SolLog64 = core::mem::transmute(SOL_LOG_64);
        f(a, b, c, d, e)
    }
}

/// SHA-256 through the `sol_sha256` syscall.
struct SolSha256;

impl Sha256 for SolSha256 {
    fn hashv(parts: &[&[u8]]) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SAFETY: the syscall takes an array of (pointer, u64 length) pairs, which is the
        // layout of `&[u8]` on SBF (64-bit pointers and usize), their count, and a 32-byte
        // output buffer; all stay borrowed for the call.
        unsafe {
            let f: SolSha256Fn = core::mem::transmute(SOL_SHA256);
            f(
                parts.as_ptr() as *const u8,
                parts.len() as u64,
                out.as_mut_ptr(),
            );
        }
        out
    }
}

// The memory builtins LLVM calls for copies it does not expand inline. sbpf-linker
// resolves no `memcpy` of its own (compiler_builtins' never reaches it), so they are the
// runtime's syscalls, as in Solana's SDK.
type MemOp = unsafe extern "C" fn(*mut u8, *const u8, u64);
type MemSet = unsafe extern "C" fn(*mut u8, u8, u64);
type MemCmp = unsafe extern "C" fn(*const u8, *const u8, u64, *mut i32);

/// # Safety
/// As C's `memcpy`.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the hashed address of `sol_memcpy_`; the caller upholds memcpy's contract.
    unsafe {
        let f: MemOp = core::mem::transmute(SOL_MEMCPY);
        f(dst, src, n as u64);
    }
    dst
}

/// # Safety
/// As C's `memmove`.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the hashed address of `sol_memmove_`; the caller upholds memmove's contract.
    unsafe {
        let f: MemOp = core::mem::transmute(SOL_MEMMOVE);
        f(dst, src, n as u64);
    }
    dst
}

/// # Safety
/// As C's `memset`.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the hashed address of `sol_memset_`; the caller upholds memset's contract.
    unsafe {
        let f: MemSet = core::mem::transmute(SOL_MEMSET);
        f(dst, c as u8, n as u64);
    }
    dst
}

/// # Safety
/// As C's `memcmp`.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut result = 0i32;
    // SAFETY: the hashed address of `sol_memcmp_`, which writes its result to the i32.
    unsafe {
        let f: MemCmp = core::mem::transmute(SOL_MEMCMP);
        f(a, b, n as u64, &mut result);
    }
    result
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Invalid instruction: the VM aborts the transaction, and the bench sees it fail.
    loop {}
}

/// The loader's serialized input (aligned ABI: loaders v2 and v3).
const MAX_PERMITTED_DATA_INCREASE: usize = 10 * 1024;

struct Input<'a> {
    accounts: [Option<&'a mut [u8]>; 2],
    data: &'a [u8],
}

/// # Safety
/// `input` must be the loader's serialized input of this invocation.
unsafe fn deserialize<'a>(input: *mut u8) -> Input<'a> {
    unsafe {
        let mut p = input;
        let count = (p as *const u64).read_unaligned() as usize;
        p = p.add(8);
        let mut accounts: [Option<&'a mut [u8]>; 2] = [None, None];
        for i in 0..count {
            let dup = *p;
            p = p.add(1);
            if dup != u8::MAX {
                // A duplicate: this program is never passed one (it would alias).
                p = p.add(7);
                continue;
            }
            // is_signer, is_writable, executable, 4 bytes of padding, key, owner, lamports.
            p = p.add(3 + 4 + 32 + 32 + 8);
            let len = (p as *const u64).read_unaligned() as usize;
            p = p.add(8);
            let data = p;
            p = p.add(len + MAX_PERMITTED_DATA_INCREASE);
            p = p.add(p.align_offset(8));
            p = p.add(8); // rent epoch
            if i < accounts.len() {
                accounts[i] = Some(core::slice::from_raw_parts_mut(data, len));
            }
        }
        let len = (p as *const u64).read_unaligned() as usize;
        p = p.add(8);
        Input {
            accounts,
            data: core::slice::from_raw_parts(p, len),
        }
    }
}

/// Operations (instruction data byte 0), arguments little-endian.
const OP_LOG: u8 = 0; // baseline: one log line
const OP_MERKLE: u8 = 1; // leaf_off u32, leaf_len u32, leaf_count u64, index u64, root, path..
const OP_I8_ABSORB: u8 = 2; // a_off u32, b_off u32, len u32 (elements)
const OP_I8_FINISH: u8 = 3; // k u32, claimed i32
const OP_F32_ABSORB: u8 = 4; // a_off u32, b_off u32, len u32 (elements)
const OP_F32_FINISH: u8 = 5; // k u32, claimed bits u32
const OP_WRITE: u8 = 6; // offset u32, bytes.. (into account 0)
const OP_I8_INLINE: u8 = 7; // len u32, a bytes, b bytes (no account)
const OP_F32_INLINE: u8 = 8; // len u32, a bytes, b bytes (no account)

const ERR_INVALID: u64 = 1;

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// (a, b) chunks of `len` elements of `elem` bytes at the given offsets of `buf`.
fn chunks<'a>(buf: &'a [u8], d: &[u8], elem: usize) -> Option<(&'a [u8], &'a [u8])> {
    let (a_off, b_off) = (u32_at(d, 1)? as usize, u32_at(d, 5)? as usize);
    let len = u32_at(d, 9)? as usize * elem;
    Some((buf.get(a_off..a_off + len)?, buf.get(b_off..b_off + len)?))
}

fn inline_chunks(d: &[u8], elem: usize) -> Option<(&[u8], &[u8])> {
    let len = u32_at(d, 1)? as usize * elem;
    Some((d.get(5..5 + len)?, d.get(5 + len..5 + 2 * len)?))
}

fn fold(limbs: &[u64]) -> u64 {
    limbs.iter().fold(0, |s, l| s.rotate_left(7) ^ l)
}

fn f32_code(v: F32Verdict) -> u64 {
    match v {
        F32Verdict::WithinBound => 0,
        F32Verdict::BeyondBound => 1,
        F32Verdict::NonFiniteAllowed => 2,
        F32Verdict::NonFiniteClaimed => 3,
        F32Verdict::FiniteWithNonFiniteInput => 4,
    }
}

fn run(input: Input<'_>) -> Option<()> {
    let d = input.data;
    let [buf, state] = input.accounts;
    match *d.first()? {
        OP_LOG => log5(0, 0, 0, 0, 0),
        OP_MERKLE => {
            let buf = buf?;
            let (off, len) = (u32_at(d, 1)? as usize, u32_at(d, 5)? as usize);
            let (count, index) = (u64_at(d, 9)?, u64_at(d, 17)?);
            let root: &[u8; 32] = d.get(25..57)?.try_into().ok()?;
            let path_bytes = d.get(57..)?;
            let (path, rest) = path_bytes.as_chunks::<32>();
            if !rest.is_empty() {
                return None;
            }
            let leaf = buf.get(off..off + len)?;
            let ok = merkle::verify::<SolSha256>(root, count, index, leaf, path);
            log5(
                OP_MERKLE as u64,
                ok as u64,
                path.len() as u64,
                len as u64,
                index,
            );
        }
        OP_I8_ABSORB => {
            let (a, b) = chunks(buf?, d, 1)?;
            let state = state?;
            let bytes: &mut [u8; I8Accumulator::ENCODED_LEN] = state
                .get_mut(..I8Accumulator::ENCODED_LEN)?
                .try_into()
                .ok()?;
            let mut acc = I8Accumulator::from_bytes(bytes);
            acc.absorb(a, b).ok()?;
            *bytes = acc.to_bytes();
            log5(
                OP_I8_ABSORB as u64,
                acc.next_index as u64,
                acc.partial as u64,
                0,
                0,
            );
        }
        OP_I8_FINISH => {
            let state = state?;
            let bytes: &[u8; I8Accumulator::ENCODED_LEN] =
                state.get(..I8Accumulator::ENCODED_LEN)?.try_into().ok()?;
            let acc = I8Accumulator::from_bytes(bytes);
            let (k, claimed) = (u32_at(d, 1)?, u32_at(d, 5)? as i32);
            let wrong = match acc.finish(k, claimed).ok()? {
                I8Verdict::Correct => 0,
                I8Verdict::Wrong { .. } => 1,
            };
            log5(OP_I8_FINISH as u64, wrong, acc.partial as u64, k as u64, 0);
        }
        OP_F32_ABSORB => {
            let (a, b) = chunks(buf?, d, 4)?;
            let state = state?;
            let bytes: &mut [u8; F32Accumulator::ENCODED_LEN] = state
                .get_mut(..F32Accumulator::ENCODED_LEN)?
                .try_into()
                .ok()?;
            let mut acc = F32Accumulator::from_bytes(bytes);
            acc.absorb(a, b).ok()?;
            *bytes = acc.to_bytes();
            log5(
                OP_F32_ABSORB as u64,
                acc.next_index as u64,
                acc.nonfinite as u64,
                fold(&acc.pos),
                fold(&acc.neg),
            );
        }
        OP_F32_FINISH => {
            let state = state?;
            let bytes: &[u8; F32Accumulator::ENCODED_LEN] =
                state.get(..F32Accumulator::ENCODED_LEN)?.try_into().ok()?;
            let acc = F32Accumulator::from_bytes(bytes);
            let (k, claimed) = (u32_at(d, 1)?, u32_at(d, 5)?);
            let verdict = acc.finish(k, claimed).ok()?;
            log5(
                OP_F32_FINISH as u64,
                verdict.is_wrong() as u64,
                f32_code(verdict),
                k as u64,
                claimed as u64,
            );
        }
        OP_WRITE => {
            let buf = buf?;
            let off = u32_at(d, 1)? as usize;
            let bytes = d.get(5..)?;
            buf.get_mut(off..off + bytes.len())?.copy_from_slice(bytes);
        }
        OP_I8_INLINE => {
            let (a, b) = inline_chunks(d, 1)?;
            let mut acc = I8Accumulator::new();
            acc.absorb(a, b).ok()?;
            log5(
                OP_I8_INLINE as u64,
                acc.next_index as u64,
                acc.partial as u64,
                0,
                0,
            );
        }
        OP_F32_INLINE => {
            let (a, b) = inline_chunks(d, 4)?;
            let mut acc = F32Accumulator::new();
            acc.absorb(a, b).ok()?;
            log5(
                OP_F32_INLINE as u64,
                acc.next_index as u64,
                acc.nonfinite as u64,
                fold(&acc.pos),
                fold(&acc.neg),
            );
        }
        _ => return None,
    }
    Some(())
}

/// # Safety
/// Called by the SBF loader with its serialized input.
#[no_mangle]
pub unsafe extern "C" fn entrypoint(input: *mut u8) -> u64 {
    // SAFETY: the loader passes its serialized input, as `deserialize` requires.
    let input = unsafe { deserialize(input) };
    match run(input) {
        Some(()) => 0,
        None => ERR_INVALID,
    }
}
