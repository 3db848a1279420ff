"""EWoK-format items made from the corpus lexicon: world-knowledge-like judgements for the built-in corpus.

EWoK (Elements of World Knowledge, as BabyLM evaluates it) gives a context and two targets: a model knows the
item when the right target (Target1) is the more probable continuation of the context (analysis/ewok.py). The
project ships no EWoK data, so the generator writes items of that format, in the corpus's style (lower case,
punctuation as separate words), from three templates, one per domain:

    agent-properties     "the girl kicked the ball ."  ->  "the girl was happy ."  vs  "the ball was happy ."
                         or "the ball was behind the girl ."  (only a person or an animal has the feeling)
    physical-relations   "the box holds the ball ."    ->  "the ball is inside the box ."  vs  "... outside ..."
                         or "the box lost the ball ."  (then outside is right)
    spatial-relations    "the cat is on the bed ."     ->  "the cat is above the bed ."  vs  "... below ..."
                         or "the cat is under the bed ."  (then below is right)

The two targets of an item differ in one word, the one tested, and neither is closer to the context than the
other: a model that copies its context (continues with the context's own words in its own order) has no reason to
prefer either, and the tested words are right as often as wrong over a domain, so word frequency alone does not
pick the right one either (tests/test_builtin_corpus.py scores a copying scorer at chance). An earlier version
had the wrong target repeat the context's order ("the owl is under the chair ." -> wrong: "the owl is above the
chair ."), which pushed a copying model far below chance. Items are distinct within a domain and a pure function
of the seed (`grammar_for("ewok", seed, domain)`). The writer keeps every sentence of the items out of the corpus,
as it does the minimal pairs' (writer.py).

One JSON object a line in `<out>/ewok/<domain>.jsonl`: Domain, ConceptA, ConceptB, Context1, Target1, Target2,
item_id (BabyLM's files carry more keys, which the scorer does not need).
"""
from .grammar import grammar_for
from .lexicon import ADJECTIVES, ANIMATE, INANIMATE, NAMES, TRANSITIVE, nouns

DOMAINS = ("agent-properties", "physical-relations", "spatial-relations")
DEFAULT_ITEMS = 100  # per domain

CONTAINERS = ("box", "cup", "truck", "car", "boat")
PLACES = ("bed", "table", "chair", "house", "box", "truck", "car")
# (relation in the context, the right word of the targets, the wrong one): each word right in half the items
SPATIAL = [("on", "above", "below"), ("under", "below", "above")]
# (the container's verb, present and past, the right word, the wrong one); no word of the context in the targets'
# tested place (a context saying "in" would favour "inside" to a model copying word pieces)
INSIDE = [(("holds", "held"), "inside", "outside"), (("loses", "lost"), "outside", "inside")]
# feelings and states only a person or an animal has
ANIMATE_ONLY = [(a, cs) for a, cs in ADJECTIVES if not set(cs) & set(INANIMATE)]


def _the(noun) -> str:
    return f"the {noun}"


def _agent_properties(g):
    agent = g.pick(nouns(ANIMATE))
    v = g.pick([v for v in TRANSITIVE if set(v.objects) & set(INANIMATE)])
    thing = g.pick([n for n in nouns(INANIMATE) if n.cls in v.objects])
    adjective = g.pick([a for a, cs in ANIMATE_ONLY if agent.cls in cs])
    if agent.cls == "person" and g.p(0.3):
        name = g.pick(NAMES)[0]
        subject, concept = name, name
    else:
        subject, concept = _the(agent.sg), agent.sg
    # the agent first or second in the context, half each: a copying model favours the context's first noun
    context = f"{subject} {v.past} {_the(thing.sg)} ." if g.p(0.5) else f"{_the(thing.sg)} was behind {subject} ."
    return concept, thing.sg, context, f"{subject} was {adjective} .", f"{_the(thing.sg)} was {adjective} ."


def _physical_relations(g):
    container = g.pick(CONTAINERS)
    content = g.pick([n for n in nouns(INANIMATE) if n.sg not in CONTAINERS])
    (now, then), right, wrong = g.pick(INSIDE)
    verb, be = (now, "is") if g.p(0.5) else (then, "was")
    frame = f"{_the(content.sg)} {be} {{}} {_the(container)} ."
    return (content.sg, container, f"{_the(container)} {verb} {_the(content.sg)} .", frame.format(right),
            frame.format(wrong))


def _spatial_relations(g):
    relation, right, wrong = g.pick(SPATIAL)
    x = g.pick(nouns(ANIMATE))
    y = g.pick(PLACES)
    frame = f"{_the(x.sg)} is {{}} {_the(y)} ."
    return x.sg, y, frame.format(relation), frame.format(right), frame.format(wrong)


MAKERS = {"agent-properties": _agent_properties, "physical-relations": _physical_relations,
          "spatial-relations": _spatial_relations}


def make_items(seed, n=DEFAULT_ITEMS) -> dict:
    """{domain: [record, ...]} with n distinct items per domain (distinct contexts and target pairs)."""
    out = {}
    for domain in DOMAINS:
        g = grammar_for("ewok", seed, domain)
        seen, records = set(), []
        for _ in range(200 * n + 1000):  # a generous cap, so a bug cannot loop forever
            if len(records) >= n:
                break
            a, b, context, right, wrong = MAKERS[domain](g)
            if context in seen:
                continue
            seen.add(context)
            records.append({"Domain": domain, "ConceptA": a, "ConceptB": b, "Context1": context, "Target1": right,
                            "Target2": wrong, "item_id": len(records)})
        if len(records) < n:
            raise ValueError(f"ewok_items_per_domain={n} is more than the templates can make distinct for {domain}")
        out[domain] = records
    return out


def item_sentences(items: dict) -> set:
    """Every sentence of the items (contexts and both targets): none may occur in the corpus."""
    return {r[k] for records in items.values() for r in records for k in ("Context1", "Target1", "Target2")}
