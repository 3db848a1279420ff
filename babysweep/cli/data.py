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
    print(f"  minimal pairs: {len(pairs)} paradigms, {sum(pairs.values()):,} pairs in {summary['out_dir']}/blimp "
          f"(suite builtin_pairs: evaluate --blimp {summary['out_dir']}/blimp)")
    items = summary.get("ewok", {})
    if items:
        print(f"  EWoK-format items: {len(items)} domains, {sum(items.values()):,} items in {summary['out_dir']}/ewok "
              f"(evaluate --ewok {summary['out_dir']}/ewok)")


def cmd_data_prepare(args):
    from trainables.data.babylm import summary_table
    from trainables.data.prepared import prepare

    warnings = []  # they wait for the end of the summary, where they are not scrolled away

    def log(message):
        (warnings.append if message.startswith("warning: ") else log_to_stderr)(message)

    meta = prepare(args.corpus, args.out, test=args.test, vocab_size=args.vocab_size, seq_length=args.seq_length,
                   valid_fraction=args.valid_fraction, valid_words=args.valid_words, seed=args.seed,
                   valid_split=args.valid_split, show_progress=not args.quiet, log=log)
    print(summary_table([(r["domain"], r["split"], r["lines"], r["words"]) for r in meta["domains"]]))
    valid_split = meta["split"].get("valid_split", "random")  # a folder prepared before the field: random
    print(f"validation split: {valid_split}" + (f" (seed {meta['split']['seed']})" if valid_split == "random" else
                                                " (the last lines of each domain file)"))
    tokenizer = meta["tokenizer"]
    print(f"tokenizer: byte-level BPE, {tokenizer['vocab_size']:,} entries (sha256 {tokenizer['sha256'][:12]})")
    if "pruned" in tokenizer:
        print(f"  {tokenizer['requested_vocab_size']:,} requested; every merged entry occurs in the train stream "
              f"({tokenizer['pruned']:,} taken out of a BPE of {tokenizer['trained_vocab_size']:,})")
    if meta.get("reused") and tokenizer.get("warning"):  # prepare said it when it made the folder
        warnings.append(f"warning: {tokenizer['warning']}")
    for split, info in meta["splits"].items():
        print(f"  {split:<10} {info['tokens']:>11,} tokens  {info['tokens'] / max(info['words'], 1):.2f} tokens/word")
    print(f"prepared data in {args.out} (sequence length {meta['seq_length']}, cache dtype {meta['dtype']})")
    for warning in warnings:
        log_to_stderr(warning)


def register(sub):
    data = sub.add_parser("data", help="make and prepare corpora").add_subparsers(dest="data_command", required=True,
                                                                                  metavar="ACTION")
    g = data.add_parser("generate", help="write the built-in corpus, minimal pairs and EWoK-format items (no download)")
    g.add_argument("--out", required=True, help="folder to write (train/, dev/, test/, blimp/, ewok/)")
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
    pr.add_argument("--valid-split", choices=("tail", "random"), default="tail",
                    help="validation lines: the last lines of each domain file (tail, default) or lines drawn at "
                         "random (random, seeded by --seed)")
    pr.add_argument("--seed", type=int, default=0, help="seed of the random validation split")
    pr.add_argument("--quiet", action="store_true", help="no progress bars")
    pr.set_defaults(func=cmd_data_prepare)
