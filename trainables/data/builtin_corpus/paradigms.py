"""BLiMP-style minimal pairs made by the corpus grammar: fourteen paradigms of agreement, case and tense.

A pair is a good sentence and a bad one that differ in one word (same number of words). Each paradigm comes
as twins that share the contrasted words with the roles swapped (pair 2k: good "the dog runs", bad "the dog
run"; pair 2k+1: good "the dogs run", bad "the dogs runs"), so a model that knows nothing, scoring by length
and word frequency, lands near 50%, and one that learned the grammar can tell every good sentence from its
bad twin.
"""
from .grammar import grammar_for
from .lexicon import (ADJ_FOR, ANIMATE, CONCRETE, INANIMATE, NAMES, NEUTRAL_DETS, NOUNS, NP_PREPS, OBJ_DETS,
                      PAIR_VERBS, PRONOUN, REFLEXIVE_VERBS, SUBJ_DETS, TRANSITIVE, VERBS, VERBS_TAKING,
                      VERBS_TAKING_ANIMATE, Agr, nouns)


# Each twin maker returns [(good, bad), (good, bad)]: two pairs that swap the contrasted words.


def _swap(words, i, word):
    out = list(words)
    out[i] = word
    return out


def _pairs_det_noun(g, adj=False, irregular=False):
    noun = g.pick(nouns(CONCRETE, irregular=irregular))
    adjective = [g.pick(ADJ_FOR[noun.cls])] if adj else []
    twins = []
    for num, dets in (("sg", ["this", "that"]), ("pl", ["these", "those"])):
        subj, a = g.subject(pron=0.2, name=0.15)
        v = g.pick(VERBS_TAKING[noun.cls])
        good = subj + g.verb(v, g.pick(("pres", "past")), a) + [g.pick(dets)] + adjective
        good += [noun.sg if num == "sg" else noun.pl, "."]
        twins.append((good, _swap(good, -2, noun.pl if num == "sg" else noun.sg)))
    return twins


def _pairs_subject_verb(g, irregular=False):
    noun = g.pick(nouns(ANIMATE, irregular=irregular))
    v = g.pick(PAIR_VERBS)
    twins = []
    for num in ("sg", "pl"):
        subj, a = g.np(num, noun=noun, dets=NEUTRAL_DETS, adj=0.2)
        good = subj + g.verb(v, "pres", a) + g.complement(v, a, loc=0.4) + ["."]
        twins.append((good, _swap(good, len(subj), v.base if num == "sg" else v.s)))
    return twins


def _pairs_pronoun_subject_verb(g):
    v = g.pick(PAIR_VERBS)
    twins = []
    for p in (g.pick(["he", "she", "it"]), g.pick(["i", "you", "we", "they"])):
        a = PRONOUN[p].agr
        good = [p] + g.verb(v, "pres", a) + g.complement(v, a, loc=0.4) + ["."]
        twins.append((good, _swap(good, 1, v.base if good[1] == v.s else v.s)))
    return twins


def _pairs_copula(g):
    noun = g.pick(nouns(CONCRETE))
    adjective = g.pick(ADJ_FOR[noun.cls])
    tense = g.pick(("pres", "past"))
    twins = []
    for num in ("sg", "pl"):
        subj, a = g.np(num, noun=noun, dets=NEUTRAL_DETS, adj=0.0)
        good = subj + g.be(tense, a) + [adjective, "."]
        wrong = {"is": "are", "are": "is", "was": "were", "were": "was"}[good[len(subj)]]
        twins.append((good, _swap(good, len(subj), wrong)))
    return twins


def _pairs_distractor_relative(g):
    noun = g.pick(nouns(ANIMATE))
    v = g.pick(PAIR_VERBS)
    twins = []
    for num, other in (("sg", "pl"), ("pl", "sg")):
        subj, a = g.np(num, noun=noun, dets=NEUTRAL_DETS, adj=0.0)
        if g.p(0.5):  # the dog that the girls see runs
            rv = g.pick(VERBS_TAKING[noun.cls])
            s2, a2 = g.np(other, ANIMATE, NEUTRAL_DETS, adj=0.0)
            rc = ["that"] + s2 + g.verb(rv, "pres", a2)
        else:  # the dog that sees the girls runs
            rv = g.pick(VERBS_TAKING_ANIMATE)
            o2, _ = g.np(other, tuple(c for c in rv.objects if c in ANIMATE), NEUTRAL_DETS, adj=0.0)
            rc = ["that"] + g.verb(rv, "pres", a) + o2
        i = len(subj) + len(rc)
        good = subj + rc + g.verb(v, "pres", a) + g.complement(v, a, loc=0.3) + ["."]
        twins.append((good, _swap(good, i, v.base if num == "sg" else v.s)))
    return twins


def _pairs_distractor_pp(g):
    noun = g.pick(nouns(ANIMATE))
    v = g.pick(PAIR_VERBS)
    prep = g.pick(NP_PREPS)
    twins = []
    for num, other in (("sg", "pl"), ("pl", "sg")):
        subj, a = g.np(num, noun=noun, dets=NEUTRAL_DETS, adj=0.0)
        pp = [prep] + g.np(other, CONCRETE, NEUTRAL_DETS, adj=0.0)[0]
        good = subj + pp + g.verb(v, "pres", a) + g.complement(v, a, loc=0.3) + ["."]
        twins.append((good, _swap(good, len(subj) + len(pp), v.base if num == "sg" else v.s)))
    return twins


def _pairs_anaphor_number(g):
    noun = g.pick([n for n in nouns(ANIMATE) if n.gender != "x"])
    v = g.pick(REFLEXIVE_VERBS)
    tense = g.pick(("pres", "past"))  # past: the verb gives no hint, only the noun does
    singular = {"m": "himself", "f": "herself", "n": "itself"}[noun.gender]
    twins = []
    for num in ("sg", "pl"):
        subj, a = g.np(num, noun=noun, dets=NEUTRAL_DETS, adj=0.2)
        good = subj + g.verb(v, tense, a) + [g.reflexive(a), "."]
        twins.append((good, _swap(good, -2, "themselves" if num == "sg" else singular)))
    return twins


GENDER_PAIRS = [("boy", "girl"), ("man", "woman"), ("dad", "mom"), ("grandpa", "grandma"), ("brother", "sister"),
                ("king", "queen"), ("prince", "princess"), ("uncle", "aunt")]
NOUN = {n.sg: n for n in NOUNS}


def _pairs_anaphor_gender(g):
    v = g.pick(REFLEXIVE_VERBS)
    tense = g.pick(("pres", "past"))
    use_names = g.p(0.3)
    male, female = g.pick(GENDER_PAIRS)
    twins = []
    for gender, word in (("m", male), ("f", female)):
        if use_names:
            subj, a = [g.pick([n for n, x in NAMES if x == gender])], Agr("sg", 3, gender, "person")
        else:
            subj, a = g.np("sg", noun=NOUN[word], dets=NEUTRAL_DETS, adj=0.2)
        good = subj + g.verb(v, tense, a) + [g.reflexive(a), "."]
        twins.append((good, _swap(good, -2, "herself" if gender == "m" else "himself")))
    return twins


def _pairs_question_aux(g):
    noun = g.pick(nouns(ANIMATE))
    wh = g.p(0.4)
    v = g.pick(TRANSITIVE if wh else VERBS)
    twins = []
    for num in ("sg", "pl"):
        subj, a = g.np(num, noun=noun, dets=NEUTRAL_DETS, adj=0.2)
        aux = g.do("pres", a)
        if wh:  # what does the girl want ?
            word = "what" if any(c in v.objects for c in INANIMATE) else "who"
            good = [word, aux] + subj + [v.base, "?"]
        else:  # does the girl want the cake ?
            good = [aux] + subj + [v.base] + g.complement(v, a) + ["?"]
        i = 1 if wh else 0
        twins.append((good, _swap(good, i, "do" if aux == "does" else "does")))
    return twins


CASE_PAIRS = [("i", "me"), ("he", "him"), ("she", "her"), ("we", "us"), ("they", "them")]


# what stands before the subject pronoun, and the tense that goes with it. Never the pronoun first: no line
# starts with "him", so a byte-level tokenizer splits it there and even a blank model would see it is odd
CASE_PREFIXES = [(["yesterday"], "past"), (["then"], "past"), (["later"], "past"), (["one", "day"], "past"),
                 (["then"], "pres"), (["now"], "pres"), (["tomorrow"], "fut"), (["i", "think", "that"], "pres"),
                 (["i", "think"], "past")]


def _pairs_pronoun_case(g):
    nom, acc = g.pick(CASE_PAIRS)
    v = g.pick([v for v in VERBS_TAKING_ANIMATE if "person" in v.objects])
    prefix, tense = g.pick(CASE_PREFIXES)
    a = PRONOUN[nom].agr
    good = prefix + [nom] + g.verb(v, tense, a) + g.np(classes=v.objects, dets=OBJ_DETS, adj=0.2)[0] + ["."]
    subject_case = (good, _swap(good, len(prefix), acc))  # then he saw the dog . / *then him saw the dog .
    subj, b = g.np(classes=ANIMATE, dets=SUBJ_DETS, adj=0.2)
    good = subj + g.verb(v, tense, b) + [acc, "."]
    object_case = (good, _swap(good, -2, nom))  # the dog sees him . / *the dog sees he .
    return [subject_case, object_case]


def _pairs_tense(g):
    v = g.pick(PAIR_VERBS)
    twins = []
    for tense, good_adverb, bad_adverb in (("past", "yesterday", "tomorrow"), ("fut", "tomorrow", "yesterday")):
        subj, a = g.subject(pron=0.15, name=0.15)
        good = [good_adverb] + subj + g.verb(v, tense, a) + g.complement(v, a, loc=0.3) + ["."]
        twins.append((good, _swap(good, 0, bad_adverb)))
    return twins


# UID, field, linguistics_term, twin maker
PARADIGMS = [
    ("determiner_noun_agreement", "morphology", "determiner_noun_agreement", _pairs_det_noun),
    ("determiner_noun_agreement_with_adj", "morphology", "determiner_noun_agreement",
     lambda g: _pairs_det_noun(g, adj=True)),
    ("determiner_noun_agreement_irregular", "morphology", "determiner_noun_agreement",
     lambda g: _pairs_det_noun(g, irregular=True)),
    ("regular_plural_subject_verb_agreement", "morphology", "subject_verb_agreement",
     lambda g: _pairs_subject_verb(g, irregular=False)),
    ("irregular_plural_subject_verb_agreement", "morphology", "subject_verb_agreement",
     lambda g: _pairs_subject_verb(g, irregular=True)),
    ("pronoun_subject_verb_agreement", "morphology", "subject_verb_agreement", _pairs_pronoun_subject_verb),
    ("copula_agreement", "morphology", "subject_verb_agreement", _pairs_copula),
    ("distractor_agreement_relative_clause", "morphology", "subject_verb_agreement", _pairs_distractor_relative),
    ("distractor_agreement_prepositional_phrase", "morphology", "subject_verb_agreement", _pairs_distractor_pp),
    ("anaphor_number_agreement", "morphology", "anaphor_agreement", _pairs_anaphor_number),
    ("anaphor_gender_agreement", "morphology", "anaphor_agreement", _pairs_anaphor_gender),
    ("question_auxiliary_agreement", "syntax", "subject_aux_agreement", _pairs_question_aux),
    ("pronoun_case", "syntax", "case", _pairs_pronoun_case),
    ("tense_with_time_adverb", "semantics", "tense", _pairs_tense),
]


def make_pairs(seed, n):
    """{UID: [record, ...]} with n distinct pairs per paradigm, twins kept next to each other."""
    out = {}
    for uid, field, term, maker in PARADIGMS:
        g = grammar_for("pairs", seed, uid)
        seen, records = set(), []
        for _ in range(200 * n + 1000):  # a generous cap, so a bug cannot loop forever
            if len(records) >= n:
                break
            twins = [(" ".join(good), " ".join(bad)) for good, bad in maker(g)]
            if any(good in seen or bad in seen for good, bad in twins):
                continue  # drop both, or the twins would no longer balance each other
            for good, bad in twins[: n - len(records)]:
                seen.update((good, bad))
                records.append({"sentence_good": good, "sentence_bad": bad, "field": field,
                                "linguistics_term": term, "UID": uid, "pair_id": len(records)})
        if len(records) < n:
            raise ValueError(f"pairs_per_paradigm={n} is more than the grammar can make distinct for {uid}")
        out[uid] = records
    good = {r["sentence_good"] for rs in out.values() for r in rs}
    bad = {r["sentence_bad"] for rs in out.values() for r in rs}
    clash = sorted(good & bad)
    if clash:  # a grammar bug: some sentence is both grammatical and not
        raise RuntimeError(f"built-in corpus: {len(clash)} sentences are both good and bad, e.g. {clash[0]!r}")
    return out
