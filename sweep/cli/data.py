"""`babysweep data generate` (the built-in corpus) and `babysweep data prepare` (split, tokenizer, token cache)."""
from .common import log_to_stderr


def cmd_data_generate(args):
    from tqdm import tqdm

    from trainables.data.builtin_corpus import generate_corpus

    with tqdm(total=args.words, unit="word", unit_scale=True, desc="generating", disable=args.quiet) as bar:
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        summary = generate_corpus(args.out, words=args.words, seed=args.seed, progress=progress)
    print(f"built-in corpus in {summary['out_dir']} (seed {summary['seed']})")
    for split, per_domain in summary["words"].items():
        print(f"  {split:<6} {sum(per_domain.values()):>10,} words  " +
              ", ".join(f"{d} {n:,}" for d, n in per_domain.items()))
    pairs = summary["paradigms"]
    print(f"  minimal pairs: {len(pairs)} paradigms, {sum(pairs.values()):,} pairs in {summary['out_dir']}/blimp")


def cmd_data_prepare(args):
    from trainables.data.babylm import summary_table
    from trainables.data.prepared import prepare

    meta = prepare(args.corpus, args.out, test=args.test, vocab_size=args.vocab_size, seq_length=args.seq_length,
                   valid_fraction=args.valid_fraction, valid_words=args.valid_words, seed=args.seed,
                   show_progress=not args.quiet, log=log_to_stderr)
    print(summary_table([(r["domain"], r["split"], r["lines"], r["words"]) for r in meta["domains"]]))
    print(f"tokenizer: byte-level BPE, {meta['tokenizer']['vocab_size']:,} entries (sha256 {meta['tokenizer']['sha256'][:12]})")
    for split, info in meta["splits"].items():
        print(f"  {split:<10} {info['tokens']:>11,} tokens  {info['tokens'] / max(info['words'], 1):.2f} tokens/word")
    print(f"prepared data in {args.out} (sequence length {meta['seq_length']}, cache dtype {meta['dtype']})")


def register(sub):
    data = sub.add_parser("data", help="make and prepare corpora").add_subparsers(dest="data_command", required=True,
                                                                                  metavar="ACTION")
    g = data.add_parser("generate", help="write the built-in corpus and minimal pairs (no download)")
    g.add_argument("--out", required=True, help="folder to write (train/, dev/, test/, blimp/)")
    g.add_argument("--words", type=int, default=1_000_000, help="train words (default 1,000,000)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=cmd_data_generate)

    pr = data.add_parser("prepare", help="split a BabyLM-layout corpus, train the tokenizer, build the token cache")
    pr.add_argument("--corpus", required=True,
                    help="folder of *.train files, or a release root holding train/ (and dev/, used as test)")
    pr.add_argument("--test", help="folder of *.dev or *.test files for the test split (default: <corpus>/dev)")
    pr.add_argument("--out", required=True, help="the prepared folder to write")
    pr.add_argument("--vocab-size", type=int, default=16_000)
    pr.add_argument("--seq-length", type=int, default=128)
    pr.add_argument("--valid-fraction", type=float, default=0.05, help="share of train words held out (default 0.05)")
    pr.add_argument("--valid-words", type=int, help="hold out this many words instead of a fraction")
    pr.add_argument("--seed", type=int, default=0, help="seed of the line-level split")
    pr.add_argument("--quiet", action="store_true", help="no progress bars")
    pr.set_defaults(func=cmd_data_prepare)
