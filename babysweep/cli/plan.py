"""`babysweep plan`: what a sweep will cost before anything runs (sweep/plan.py)."""
from .common import parse_sets


def cmd_plan(args):
    import dataclasses
    import json

    from search_spaces.loader import load_space
    from sweep.errors import SweepError
    from sweep.launch import SweepSpec
    from sweep.plan import format_plan, sweep_plan
    from trainables.data.prepared import open_prepared

    if not args.data:
        raise SweepError("plan: --data is needed (the prepared folder: its vocabulary and token count)")
    spec = SweepSpec(space=args.space, data=args.data, algo=args.algo, samples=args.samples, seed=args.seed,
                     reduction_factor=args.reduction_factor, extra=parse_sets(args.set))
    spec.prepare()  # what launch checks before Ray starts (the algorithm, --samples, --set, the data): nothing written
    space = load_space(spec.space)
    plan = sweep_plan(spec, space, open_prepared(spec.data), gpu=args.gpu, gpus=args.gpus, mfu=args.mfu,
                      peak_tflops=args.peak_tflops, train_tokens=args.train_tokens)
    if args.json:
        print(json.dumps({**plan, "trial": dataclasses.asdict(plan["trial"]),
                          "reached": {str(k): v for k, v in plan["reached"].items()}}, indent=2, default=str))
    else:
        print("\n".join(format_plan(plan)))


def register(sub):
    p = sub.add_parser("plan", help="what a sweep will cost before it runs: per trial (parameters, FLOPs, time, "
                                    "memory, file sizes) and for the sweep (epochs, GPU-days, wall time, storage)")
    p.add_argument("space", help="search-space YAML (search_spaces/...)")
    p.add_argument("--data", help="the prepared data folder the sweep would train on")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--algo", default="bohb", help="bohb (default), asha or random")
    p.add_argument("--reduction-factor", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gpu", help="h100 (default), h200, a100, l40s, a10g, l4, rtx4090, rtx3090, v100")
    p.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, for a GPU --gpu does not know")
    p.add_argument("--gpus", type=int, default=1, help="GPUs the sweep runs on, one trial each (default 1)")
    p.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation assumed (default 0.4)")
    p.add_argument("--train-tokens", type=int, metavar="N", help="train tokens an epoch, instead of the folder's "
                                                                  "(to project a larger corpus from a slice of it)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a value for every trial (as launch --set)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plan)
