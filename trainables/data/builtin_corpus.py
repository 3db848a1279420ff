"""The built-in corpus: a small probabilistic grammar of child-directed English, and minimal pairs from it.

babysweep must run on a fresh machine with nothing to download, so it ships this generator instead of data.
It writes a corpus in the BabyLM layout (train/dev/test folders of `<domain>.<split>` text files, one
utterance a line) and BLiMP-style minimal pairs (blimp/<UID>.jsonl) made by the same grammar, so that a
model that learned the grammar can tell every good sentence from its bad twin, and one that learned nothing
scores about 50%.

The grammar. All text is lower case; punctuation marks are separate tokens ("the dog runs .").
  lexicon   about 500 word forms: 81 nouns (people with gender, animals, food, things; regular and
            irregular plurals: man/men, mouse/mice, leaf/leaves...), 10 places, 12 names, 46 verbs (18
            intransitive, 28 transitive with the classes of object they take; base, 3rd singular, past
            incl. irregular, -ing), 37 adjectives (each for some noun classes), pronouns (subject, object,
            reflexive), determiners (the a/an this that these those some two three my your our his her
            their).
  NP        det (adj) noun [modifier] | name | pronoun. The determiner agrees with the noun in number
            (this dog, these dogs) and a/an with the next word. In stories and dialogue a subject may
            carry a modifier: a prepositional phrase (the dog near the girls) or a relative clause,
            object gap (the dog that the girls see) or subject gap (the dog that sees the girls).
  statement subject predicate ., the predicate one of: intransitive verb (+ place: in the park),
            transitive verb + object (the class the verb takes), transitive verb + reflexive (agreeing
            with the subject in person, number, gender), be + adjective, be + verb-ing. The verb or
            auxiliary agrees with the head of the subject in person and number, whatever stands between.
            Tense is present, past or future (will + base form); "yesterday" only goes with the past,
            "tomorrow" only with "will".
  question  does/do/did/can + subject + base verb ... ?, is/are/was/were + subject + adjective/-ing ?,
            what/who + does/do/did + subject + transitive verb ?, who + verb + object ?, where is/does ... ?
  other     imperatives (throw the ball !), demonstratives (these are my shoes .), existentials (there
            was a dog in the garden .), complement clauses (i think that ...), short fillers (uh oh .).
The three domains mix these differently: child_directed_speech (short utterances, many questions and
imperatives, mostly present tense), stories (paragraphs about one character, mostly past tense, pronouns
that refer back, modifiers), dialogue (two speakers, `A:\\t...` lines as in switchboard, questions and answers).

Minimal pairs differ in one word (same number of words). Each paradigm comes as twins that share the
contrasted words with the roles swapped (pair 2k: good "the dog runs", bad "the dog run"; pair 2k+1: good
"the dogs run", bad "the dogs runs"), so a model that knows nothing, scoring by length and word frequency,
lands near 50%. No pair sentence appears as a sentence of the corpus: the pairs are made first and the
corpus generator drops any sentence equal to one of them.
"""
import json
import os
import random
import shutil
from pathlib import Path
from typing import NamedTuple

from .errors import DataError

GENERATOR = "babysweep.builtin_corpus"
VERSION = 1  # bump whenever the output for given arguments changes
DEFAULT_WORDS = 1_000_000
DOMAINS = ("child_directed_speech", "stories", "dialogue")
DOMAIN_SHARE = {"child_directed_speech": 0.40, "stories": 0.35, "dialogue": 0.25}
MIN_EVAL_WORDS = 3_000  # dev and test get words/10, but never fewer than this

# -----------------------------------------------------------------------------
# lexicon: small tables, parsed once at import. Lists everywhere (never sets) so sampling order is fixed.


def _table(text):
    return [line.split() for line in text.strip().splitlines() if line.strip() and not line.startswith("#")]


class Noun(NamedTuple):
    sg: str
    pl: str
    gender: str  # m, f, n (it), x (a person of unknown gender: no singular pronoun or reflexive)
    cls: str  # person, animal, food, thing
    irregular: bool


class Verb(NamedTuple):
    base: str
    s: str  # third person singular present
    past: str
    ing: str  # "-" for stative verbs, which get no progressive (*the girl is liking the cake)
    objects: tuple  # noun classes it takes as object; () for intransitive verbs
    reflexive: bool  # may take a reflexive object (the girl sees herself)


class Agr(NamedTuple):
    """What a verb, auxiliary, reflexive or pronoun must agree with."""
    num: str  # sg, pl
    per: int  # 1, 2, 3
    gender: str
    cls: str


_NOUNS = """
# singular plural gender class [irregular]
boy boys m person
girl girls f person
man men m person irregular
woman women f person irregular
child children x person irregular
person people x person irregular
baby babies x person
friend friends x person
teacher teachers x person
doctor doctors x person
farmer farmers x person
mom moms f person
dad dads m person
grandma grandmas f person
grandpa grandpas m person
brother brothers m person
sister sisters f person
king kings m person
queen queens f person
prince princes m person
princess princesses f person
uncle uncles m person
aunt aunts f person
dog dogs n animal
cat cats n animal
puppy puppies n animal
kitten kittens n animal
bunny bunnies n animal
bird birds n animal
duck ducks n animal
frog frogs n animal
bear bears n animal
horse horses n animal
cow cows n animal
pig pigs n animal
lion lions n animal
tiger tigers n animal
monkey monkeys n animal
elephant elephants n animal
owl owls n animal
fox foxes n animal
mouse mice n animal irregular
goose geese n animal irregular
wolf wolves n animal irregular
apple apples n food
banana bananas n food
cookie cookies n food
cake cakes n food
egg eggs n food
sandwich sandwiches n food
carrot carrots n food
cracker crackers n food
grape grapes n food
cherry cherries n food
muffin muffins n food
ball balls n thing
book books n thing
box boxes n thing
toy toys n thing
car cars n thing
truck trucks n thing
hat hats n thing
shoe shoes n thing
sock socks n thing
cup cups n thing
spoon spoons n thing
block blocks n thing
crayon crayons n thing
puzzle puzzles n thing
boat boats n thing
train trains n thing
picture pictures n thing
stick sticks n thing
rock rocks n thing
flower flowers n thing
balloon balloons n thing
kite kites n thing
drum drums n thing
doll dolls n thing
umbrella umbrellas n thing
leaf leaves n thing irregular
"""

_VERBS = """
# base 3sg past -ing objects(- = intransitive) [reflexive]
run runs ran running -
walk walks walked walking -
jump jumps jumped jumping -
sleep sleeps slept sleeping -
play plays played playing -
sing sings sang singing -
dance dances danced dancing -
swim swims swam swimming -
cry cries cried crying -
laugh laughs laughed laughing -
smile smiles smiled smiling -
sit sits sat sitting -
hide hides hid hiding -
fall falls fell falling -
climb climbs climbed climbing -
wait waits waited waiting -
hop hops hopped hopping -
nap naps napped napping -
see sees saw - person,animal,food,thing reflexive
like likes liked - person,animal,food,thing reflexive
love loves loved - person,animal,food,thing reflexive
hear hears heard - person,animal reflexive
want wants wanted - animal,food,thing
find finds found finding person,animal,food,thing reflexive
draw draws drew drawing person,animal,food,thing reflexive
watch watches watched watching person,animal,thing reflexive
eat eats ate eating food
hold holds held holding animal,food,thing
throw throws threw throwing thing
catch catches caught catching animal,thing
push pushes pushed pushing person,animal,thing
kick kicks kicked kicking thing
hug hugs hugged hugging person,animal reflexive
kiss kisses kissed kissing person,animal
help helps helped helping person,animal reflexive
chase chases chased chasing person,animal
bring brings brought bringing animal,food,thing
carry carries carried carrying animal,food,thing
drop drops dropped dropping food,thing
take takes took taking food,thing
make makes made making food,thing
feed feeds fed feeding person,animal reflexive
wash washes washed washing person,animal,thing reflexive
tickle tickles tickled tickling person,animal reflexive
hurt hurts hurt hurting person,animal reflexive
call calls called calling person,animal reflexive
"""

_ADJECTIVES = """
# adjective: the noun classes it describes
big person,animal,food,thing
little person,animal,food,thing
small person,animal,food,thing
nice person,animal,food,thing
old person,animal,thing
new animal,thing
good person,animal,food
funny person,animal,thing
pretty person,animal,thing
tall person,animal,thing
happy person,animal
sad person,animal
hungry person,animal
sleepy person,animal
tired person,animal
angry person,animal
scared person,animal
silly person,animal
kind person
fast animal,thing
red animal,food,thing
blue animal,thing
green animal,food,thing
yellow animal,food,thing
brown animal,food,thing
white animal,thing
black animal,thing
pink animal,food,thing
soft animal,food,thing
wet person,animal,thing
dirty person,animal,thing
clean person,animal,thing
yummy food
sweet food
hot food
cold person,food
warm food
"""

_PLACES = """
# place: the prepositions that go with it (in the park, under the table)
park in near
garden in near
kitchen in
house in near behind
yard in
room in
forest in near
bed on under near
table on under near
chair on under behind
"""

NOUNS = [Noun(sg, pl, g, c, rest == ["irregular"]) for sg, pl, g, c, *rest in _table(_NOUNS)]
VERBS = [Verb(b, s, p, i, () if o == "-" else tuple(o.split(",")), rest == ["reflexive"])
         for b, s, p, i, o, *rest in _table(_VERBS)]
ADJECTIVES = [(a, tuple(c.split(","))) for a, c in _table(_ADJECTIVES)]
PLACES = [(p, tuple(preps)) for p, *preps in _table(_PLACES)]
NAMES = [("tom", "m"), ("ben", "m"), ("max", "m"), ("sam", "m"), ("leo", "m"), ("jack", "m"),
         ("mia", "f"), ("emma", "f"), ("lily", "f"), ("anna", "f"), ("lucy", "f"), ("zoe", "f")]


class Pronoun(NamedTuple):
    subj: str
    obj: str
    agr: Agr  # the reflexive follows from it: Grammar.reflexive


PRONOUNS = [
    Pronoun("i", "me", Agr("sg", 1, "x", "person")),
    Pronoun("you", "you", Agr("sg", 2, "x", "person")),
    Pronoun("he", "him", Agr("sg", 3, "m", "person")),
    Pronoun("she", "her", Agr("sg", 3, "f", "person")),
    Pronoun("it", "it", Agr("sg", 3, "n", "animal")),
    Pronoun("we", "us", Agr("pl", 1, "x", "person")),
    Pronoun("they", "them", Agr("pl", 3, "x", "person")),
]
PRONOUN = {p.subj: p for p in PRONOUNS}
THIRD_PERSON = {("sg", "m"): PRONOUN["he"], ("sg", "f"): PRONOUN["she"], ("sg", "n"): PRONOUN["it"]}

ANIMATE = ("person", "animal")
INANIMATE = ("food", "thing")
CONCRETE = ANIMATE + INANIMATE
INTRANSITIVE = [v for v in VERBS if not v.objects]
TRANSITIVE = [v for v in VERBS if v.objects]
REFLEXIVE_VERBS = [v for v in VERBS if v.reflexive]
PROGRESSIVE_VERBS = [v for v in VERBS if v.ing != "-"]
ACTION_TRANSITIVE = [v for v in TRANSITIVE if v.ing != "-"]
# verbs whose past is not also a present form (hurt): in agreement pairs "*the girls hurts" must not be
# readable as a past, nor "*tomorrow the girl hurt" in the tense pairs
PAIR_VERBS = [v for v in VERBS if v.past not in (v.base, v.s)]
VERBS_TAKING = {c: [v for v in TRANSITIVE if c in v.objects] for c in CONCRETE}
VERBS_TAKING_ANIMATE = [v for v in TRANSITIVE if "person" in v.objects or "animal" in v.objects]
ADJ_FOR = {c: [a for a, cs in ADJECTIVES if c in cs] for c in CONCRETE}
NP_PREPS = ["near", "behind", "with", "beside"]

_pools = {}


def nouns(classes, irregular=None):
    """The nouns of some classes (optionally only irregular or only regular ones), in table order."""
    key = (classes, irregular)
    if key not in _pools:
        _pools[key] = [n for n in NOUNS if n.cls in classes and (irregular is None or n.irregular == irregular)]
    return _pools[key]


# determiners by number; repeats are weights ("the" is the most common by far)
SUBJ_DETS = {"sg": ["the"] * 6 + ["a", "a", "my", "your", "our", "his", "her", "their", "this", "that"],
             "pl": ["the"] * 6 + ["my", "your", "our", "his", "her", "their", "these", "those", "some", "two"]}
OBJ_DETS = {"sg": ["the"] * 5 + ["a"] * 4 + ["my", "your", "our", "his", "her", "their", "this", "that"],
            "pl": ["the"] * 4 + ["some", "some", "two", "three", "my", "your", "our", "his", "her", "their",
                                 "these", "those"]}
# determiners that say nothing about number: in agreement pairs the noun alone must carry it
NEUTRAL_DETS = {"sg": ["the", "the", "the", "my", "your", "our", "his", "her", "their"]}
NEUTRAL_DETS["pl"] = NEUTRAL_DETS["sg"]

FILLERS = [["look", "!"], ["uh", "oh", "."], ["yes", "."], ["no", "."], ["okay", "."], ["good", "job", "!"],
           ["wow", "!"], ["thank", "you", "."], ["all", "done", "."], ["oh", "no", "!"], ["here", "you", "go", "."],
           ["what", "is", "that", "?"], ["who", "is", "that", "?"], ["come", "here", "."]]
DIALOGUE_FILLERS = [["uh-huh", "."], ["yeah", "."], ["really", "?"], ["oh", ",", "i", "see", "."], ["me", "too", "."],
                    ["i", "don't", "know", "."], ["that", "is", "nice", "."], ["okay", "."], ["right", "."]]
NEGATIVE = {"do": "don't", "does": "doesn't", "did": "didn't", "is": "isn't", "are": "aren't",
            "was": "wasn't", "were": "weren't", "can": "can't"}

# -----------------------------------------------------------------------------
# the grammar: every method returns a list of words (and, for noun phrases, what agrees with them)


class Grammar:
    def __init__(self, seed_text):
        # a str seed is hashed with sha512 by random.Random, the same in every process (unlike hash())
        self.r = random.Random(seed_text)

    def p(self, prob):
        return self.r.random() < prob

    def pick(self, seq):
        return self.r.choice(seq)

    # --- agreement ---

    def verb(self, v, tense, a):
        if tense == "pres":
            return [v.s if a.num == "sg" and a.per == 3 else v.base]
        if tense == "past":
            return [v.past]
        return ["will", v.base]

    def be(self, tense, a):
        if tense == "fut":
            return ["will", "be"]
        if a.num == "sg" and a.per in (1, 3):
            return ["was" if tense == "past" else ("am" if a.per == 1 else "is")]
        return ["were" if tense == "past" else "are"]

    def do(self, tense, a):
        if tense == "past":
            return "did"
        return "does" if a.num == "sg" and a.per == 3 else "do"

    def reflexive(self, a):
        if a.per == 1:
            return "myself" if a.num == "sg" else "ourselves"
        if a.per == 2:
            return "yourself"
        if a.num == "pl":
            return "themselves"
        return {"m": "himself", "f": "herself", "n": "itself"}.get(a.gender)  # None for "the baby"

    def pronoun_for(self, a):
        """The pronoun that can refer back to a third-person noun phrase (None for 'the baby')."""
        if a.per != 3:
            return PRONOUN["you" if a.per == 2 else ("i" if a.num == "sg" else "we")]
        if a.num == "pl":
            return PRONOUN["they"]
        return THIRD_PERSON.get(("sg", a.gender))

    # --- noun phrases ---

    def number(self):
        return "sg" if self.p(0.6) else "pl"

    def np(self, num=None, classes=ANIMATE, dets=SUBJ_DETS, adj=0.2, noun=None, mod=0.0, tense="pres"):
        """det (adj) noun (modifier)"""
        num = num or self.number()
        noun = noun or self.pick(nouns(classes))
        words = [self.pick(dets[num])]
        if self.p(adj):
            words.append(self.pick(ADJ_FOR[noun.cls]))
        words.append(noun.sg if num == "sg" else noun.pl)
        if words[0] == "a" and words[1][0] in "aeiou":
            words[0] = "an"
        a = Agr(num, 3, noun.gender, noun.cls)
        if mod and self.p(mod):
            words += self.modifier(a, tense)
        return words, a

    def modifier(self, head, tense):
        """A PP or a relative clause after a noun. The relative clause's verb agrees with its own
        subject, not with the head: this is what the distractor pairs test."""
        if self.p(0.45):  # near the girls
            return [self.pick(NP_PREPS)] + self.np(classes=CONCRETE, dets=OBJ_DETS, adj=0.15)[0]
        rel = "who" if head.cls == "person" and self.p(0.3) else "that"
        if head.cls in ANIMATE and self.p(0.5):  # subject gap: that chases the cats
            v = self.pick(TRANSITIVE)
            return [rel] + self.verb(v, tense, head) + self.np(classes=v.objects, dets=OBJ_DETS, adj=0.15)[0]
        v = self.pick(VERBS_TAKING[head.cls])  # object gap: that the girls see
        subj, a = self.subject(pron=0.2, name=0.1)
        return [rel] + subj + self.verb(v, tense, a)

    def subject(self, classes=ANIMATE, num=None, mod=0.0, tense="pres", pron=0.2, name=0.1, adj=0.2):
        x = self.r.random()
        if x < pron:
            if classes == INANIMATE:  # it is yummy
                p = PRONOUN[self.pick(["it", "they"]) if num is None else ("it" if num == "sg" else "they")]
                return [p.subj], p.agr._replace(cls="thing")
            p = self.pick([p for p in PRONOUNS if num is None or p.agr.num == num])
            return [p.subj], p.agr
        if x < pron + name and "person" in classes and num != "pl":
            n, g = self.pick(NAMES)
            return [n], Agr("sg", 3, g, "person")
        return self.np(num, classes, SUBJ_DETS, adj=adj, mod=mod, tense=tense)

    def obj(self, v, subj_agr, mod=0.0, tense="pres"):
        """An object the verb takes. Never a pronoun of the subject's own person (*i see me)."""
        x = self.r.random()
        if x < 0.12 and ("person" in v.objects or "animal" in v.objects):
            p = self.pick(PRONOUNS)
            if p.agr.per == 3 or p.agr.per != subj_agr.per:
                return [p.obj]
        if x < 0.17 and "person" in v.objects:
            return [self.pick(NAMES)[0]]
        return self.np(classes=v.objects, dets=OBJ_DETS, adj=0.25, mod=mod, tense=tense)[0]

    def place(self):
        p, preps = self.pick(PLACES)
        return [self.pick(preps), self.pick(["the", "the", "the", "my", "our"]), p]

    def complement(self, v, a, loc=0.3, mod=0.0, tense="pres"):
        """What follows a verb: an object if it takes one, else maybe a place."""
        if v.objects:
            return self.obj(v, a, mod, tense)
        return self.place() if self.p(loc) else []

    # --- clauses ---

    def tense(self, past=0.3, fut=0.1):
        x = self.r.random()
        return "past" if x < past else ("fut" if x < past + fut else "pres")

    def statement(self, tense, subject=None, mod=0.0, loc=0.3, omod=0.0):
        """subject predicate . (without the full stop)"""
        # reflexives are frequent: they are where gender shows (max hurt himself), so learners need many
        kind = self.pick(("intr", "intr", "trans", "trans", "trans", "refl", "refl", "adj", "adj", "prog"))
        if kind == "prog" and tense == "fut":
            kind = "intr"
        if subject is None:
            classes = INANIMATE if kind == "adj" and self.p(0.4) else ANIMATE
            subject = self.subject(classes, mod=mod, tense=tense)
        words, a = subject
        if kind == "refl" and self.reflexive(a) is None:
            kind = "trans"
        if a.cls not in ANIMATE:
            kind = "adj"  # the ball is red; balls do not run
        if kind == "adj":
            return words + self.be(tense, a) + [self.pick(ADJ_FOR[a.cls])]
        if kind == "prog":
            v = self.pick(PROGRESSIVE_VERBS)
            return words + self.be(tense, a) + [v.ing] + self.complement(v, a, loc, omod, tense)
        if kind == "refl":
            v = self.pick(REFLEXIVE_VERBS)
            return words + self.verb(v, tense, a) + [self.reflexive(a)] + (self.place() if self.p(loc / 2) else [])
        v = self.pick(INTRANSITIVE if kind == "intr" else TRANSITIVE)
        return words + self.verb(v, tense, a) + self.complement(v, a, loc, omod, tense)

    def timed(self, words, tense, prob):
        """Maybe add a time adverb that fits the tense (front or end): yesterday only with the past,
        tomorrow only with will."""
        if tense == "pres" or not self.p(prob):
            return words
        adverb = "yesterday" if tense == "past" else "tomorrow"
        return [adverb] + words if self.p(0.7) else words + [adverb]

    def demonstrative(self):
        """this is a ball . / those are my shoes . / there was a dog in the garden ."""
        num = self.number()
        if self.p(0.5):
            words = [self.pick(["this", "that"] if num == "sg" else ["these", "those"])]
            words += self.be("pres", Agr(num, 3, "n", "thing"))
            dets = {"sg": ["a", "a", "my", "your", "the"], "pl": ["my", "your", "the", "some"]}
            return words + self.np(num, CONCRETE, dets, adj=0.3)[0]
        tense = self.pick(("pres", "past"))
        dets = {"sg": ["a"], "pl": ["two", "three", "some"]}
        noun, a = self.np(num, CONCRETE, dets, adj=0.3)
        return ["there"] + self.be(tense, a) + noun + (self.place() if self.p(0.5) else [])

    def imperative(self):
        x = self.r.random()
        if x < 0.2:
            return [self.pick(INTRANSITIVE).base, "!"]
        if x < 0.35:
            return ["look", "at"] + self.np(classes=CONCRETE, dets=OBJ_DETS, adj=0.3)[0] + ["!"]
        if x < 0.45:
            return ["let's", self.pick(INTRANSITIVE).base] + self.place() + ["."]
        v = self.pick(ACTION_TRANSITIVE)  # not *like the ball !
        you = PRONOUN["you"].agr
        words = [v.base] + self.obj(v, you)
        if self.p(0.2):
            words = ["don't"] + words
        return words + [self.pick([".", "!"])]

    def yes_no(self, tense):
        """A yes/no question. Returns (words, subject words, subject agreement, auxiliary, kind, verb)."""
        x = self.r.random()
        if x < 0.5:  # does the dog like the ball ?
            subj, a = self.subject()
            v = self.pick(VERBS)
            aux = "can" if tense == "fut" else self.do(tense, a)
            return [aux] + subj + [v.base] + self.complement(v, a) + ["?"], subj, a, aux, "do", v
        if tense == "fut":
            tense = "pres"
        if x < 0.8:  # is the cake yummy ?
            subj, a = self.subject(CONCRETE, pron=0.15)
            aux = self.be(tense, a)[0]
            return [aux] + subj + [self.pick(ADJ_FOR[a.cls])] + ["?"], subj, a, aux, "adj", None
        subj, a = self.subject()  # is the dog running ?
        aux = self.be(tense, a)[0]
        v = self.pick(PROGRESSIVE_VERBS)
        return [aux] + subj + [v.ing] + self.complement(v, a) + ["?"], subj, a, aux, "prog", v

    def wh(self, tense):
        """A wh-question. Returns (words, subject words, subject agreement, tense, verb, kind)."""
        if tense == "fut":
            tense = "pres"
        x = self.r.random()
        subj, a = self.subject()
        if x < 0.45:  # what does the girl want ?
            v = self.pick(TRANSITIVE)
            people_only = not any(c in v.objects for c in INANIMATE)  # who does the girl hug ?
            wh = "who" if people_only or ("person" in v.objects and self.p(0.4)) else "what"
            return [wh, self.do(tense, a)] + subj + [v.base, "?"], subj, a, tense, v, "obj"
        if x < 0.6:  # who chases the cat ? (who takes a singular verb)
            v = self.pick(TRANSITIVE)
            who = Agr("sg", 3, "x", "person")
            return ["who"] + self.verb(v, tense, who) + self.obj(v, who) + ["?"], subj, a, tense, v, "subj"
        if x < 0.8:  # where is the ball ?
            subj, a = self.subject(CONCRETE)
            return ["where"] + self.be(tense, a) + subj + ["?"], subj, a, tense, None, "where"
        v = self.pick(INTRANSITIVE)  # where does the duck sleep ?
        return ["where", self.do(tense, a)] + subj + [v.base, "?"], subj, a, tense, v, "where_do"

    # --- the three domains: each returns lines, a line being (speaker prefix, sentences) ---

    def child_directed(self):
        x = self.r.random()
        if x < 0.08:
            sentences = [self.pick(FILLERS)]
        elif x < 0.23:
            sentences = [self.imperative()]
        elif x < 0.43:
            sentences = [self.yes_no(self.tense(0.2, 0.1))[0]]
        elif x < 0.55:
            sentences = [self.wh(self.tense(0.2, 0.0))[0]]
        elif x < 0.65:
            sentences = [self.demonstrative() + ["."]]
        else:
            tense = self.tense(0.3, 0.1)
            sentences = [self.timed(self.statement(tense, mod=0.1, loc=0.25), tense, 0.25) + ["."]]
        if self.p(0.1):  # look ! the dog is running .
            sentences.insert(0, self.pick(FILLERS[:11]))
        return [("", sentences)]

    def story(self):
        """A paragraph about one character, who is mostly referred back to by a pronoun."""
        tense = "past" if self.p(0.65) else "pres"
        num = self.number()
        name = None
        if self.p(0.25):  # mia was a little girl .
            name, gender = self.pick(NAMES)
            num, noun = "sg", self.pick([n for n in nouns(("person",)) if n.gender == gender])
            intro, topic = self.np("sg", noun=noun, dets={"sg": ["a"]}, adj=0.5)
            sentences = [[name] + self.be(tense, topic) + intro + ["."]]
        else:  # once upon a time there was a dog .
            noun = self.pick(nouns(ANIMATE))
            intro, topic = self.np(num, noun=noun, dets={"sg": ["a"], "pl": ["two", "three", "some"]}, adj=0.5)
            be = self.be(tense, topic)
            if tense == "past" and self.p(0.5):
                sentences = [["once", "upon", "a", "time", "there"] + be + intro + ["."]]
            else:
                sentences = [["there"] + be + intro + self.place() + ["."]]
        pron = self.pronoun_for(topic)
        for _ in range(self.r.randint(2, 5)):
            x = self.r.random()
            if x < 0.45 and pron is not None:
                subject = ([pron.subj], pron.agr)
            elif x < 0.75 and name is not None:
                subject = ([name], topic)
            elif x < 0.75:
                subject = self.np(num, noun=noun, dets={"sg": ["the"], "pl": ["the"]}, adj=0.2, mod=0.3, tense=tense)
            else:
                subject = self.subject(mod=0.5, tense=tense, pron=0.1, name=0.2)
            words = self.statement(tense, subject, loc=0.35, omod=0.1)
            if self.p(0.2):
                words = self.pick(["then", "then", "one day", "after that", "later"] if tense == "past"
                                  else ["then", "now", "after that"]).split() + words
            else:
                words = self.timed(words, tense, 0.08)
            sentences.append(words + ["."])
        return [("", sentences)]

    def dialogue(self):
        """A short exchange between A and B: a question and its answer, or a remark and a reply."""
        lines = []
        speakers = ["A:\t", "B:\t"] if self.p(0.5) else ["B:\t", "A:\t"]
        for turn in range(self.r.randint(1, 3)):
            ask, reply = speakers[turn % 2], speakers[(turn + 1) % 2]
            x = self.r.random()
            if x < 0.35:
                tense = self.tense(0.3, 0.1)
                q, subj, a, aux, kind, v = self.yes_no(tense)
                lines += [(ask, [q]), (reply, self.answer_yes_no(subj, a, aux, kind, v, tense))]
            elif x < 0.6:
                q, subj, a, tense, v, kind = self.wh(self.tense(0.3, 0.0))
                lines += [(ask, [q]), (reply, [self.answer_wh(subj, a, tense, v, kind)])]
            else:
                tense = self.tense(0.35, 0.1)
                s = self.timed(self.statement(tense, mod=0.4, loc=0.3), tense, 0.2)
                if self.p(0.3):
                    s = ["i", self.pick(["think", "know", "guess"])] + (["that"] if self.p(0.5) else []) + s
                lines.append((ask, [s + ["."]]))
                lines.append((reply, [self.pick(DIALOGUE_FILLERS)]))
        return lines

    def answerer(self, subj, a):
        """Who the answer is about: you -> i, i -> you, the dog -> it (or the dog again)."""
        if subj == ["you"]:
            return ["i"], PRONOUN["i"].agr
        if subj == ["i"]:
            return ["you"], PRONOUN["you"].agr
        p = self.pronoun_for(a)
        if p is None or self.p(0.15):
            return subj, a
        return [p.subj], p.agr

    def answer_yes_no(self, subj, a, aux, kind, v, tense):
        who, b = self.answerer(subj, a)
        if aux in ("does", "do"):
            aux = self.do("pres", b)
        elif aux in ("is", "are", "was", "were"):
            aux = self.be("past" if aux in ("was", "were") else "pres", b)[0]
        yes = self.p(0.6)
        if aux == "am":
            short = ["am"] if yes else ["am", "not"]
        else:
            short = [aux if yes else NEGATIVE[aux]]
        answer = [["yes" if yes else "no", ","] + who + short + ["."]]
        if yes and kind == "do" and tense == "pres" and self.p(0.3):  # yes , i do . i like the cake .
            answer.append(who + self.verb(v, "pres", b) + self.complement(v, b) + ["."])
        return answer

    def answer_wh(self, subj, a, tense, v, kind):
        if kind == "subj":  # who chases the cat ? -> the dog does .
            s, b = self.subject(pron=0.0)
            return s + [self.do(tense, b), "."]
        who, b = self.answerer(subj, a)
        if kind == "where":
            return who + self.be(tense, b) + self.place() + ["."]
        if kind == "where_do":
            return who + self.verb(v, tense, b) + self.place() + ["."]
        return who + self.verb(v, tense, b) + self.obj(v, b) + ["."]

    def lines(self, domain):
        return {"child_directed_speech": self.child_directed, "stories": self.story,
                "dialogue": self.dialogue}[domain]()


# -----------------------------------------------------------------------------
# minimal pairs: each function returns twins [(good, bad), (good, bad)] that swap the contrasted words


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
        g = Grammar(f"{GENERATOR}:{VERSION}:pairs:{seed}:{uid}")
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


def read_pairs(path):
    """The records of one BLiMP-style .jsonl file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# -----------------------------------------------------------------------------
# writing the corpus


def _split_budgets(words):
    eval_words = max(words // 10, MIN_EVAL_WORDS)
    return {"train": words, "dev": eval_words, "test": eval_words}


def _summary_of(record, out_dir):
    return {"out_dir": str(out_dir), "seed": record["seed"], "words": record["words"],
            "paradigms": record["paradigms"]}


def _existing(out_dir, params):
    """The summary of a finished output with the same parameters in out_dir, None if out_dir is absent
    or empty; raises DataError for anything else."""
    if not out_dir.exists():
        return None
    if not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder; choose another output folder")
    if not any(out_dir.iterdir()):
        return None
    meta = out_dir / "corpus.json"
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
        ours = record.get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise DataError(f"{out_dir}: folder is not empty and holds no corpus of babysweep's built-in "
                        f"generator; choose an empty or new folder")
    theirs = {k: record.get(k) for k in params}
    if theirs != params:
        said = ", ".join(f"{k}={v}" for k, v in theirs.items())
        raise DataError(f"{out_dir}: holds a built-in corpus made with {said}; choose another folder "
                        f"for {', '.join(f'{k}={v}' for k, v in params.items())}")
    for rel, size in record.get("files", {}).items():
        f = out_dir / rel
        if not f.is_file() or f.stat().st_size != size:
            raise DataError(f"{f}: missing or changed since the built-in generator wrote it; delete {out_dir} "
                            f"and generate again")
    return _summary_of(record, out_dir)


def generate_corpus(out_dir, words=DEFAULT_WORDS, seed=0, pairs_per_paradigm=250, progress=None) -> dict:
    """Write the built-in corpus and its minimal pairs to out_dir (see the module docstring); return
    {"out_dir", "seed", "words": {split: {domain: n}}, "paradigms": {UID: n_pairs}}."""
    if int(words) != words or words < 1:
        raise DataError(f"--words: must be a positive integer, got {words!r}")
    if int(pairs_per_paradigm) != pairs_per_paradigm or pairs_per_paradigm < 1:
        raise DataError(f"pairs_per_paradigm: must be a positive integer, got {pairs_per_paradigm!r}")
    words, seed, pairs_per_paradigm = int(words), int(seed), int(pairs_per_paradigm)
    out_dir = Path(out_dir)
    params = {"version": VERSION, "words_requested": words, "seed": seed, "pairs_per_paradigm": pairs_per_paradigm}
    done = _existing(out_dir, params)
    if done is not None:
        return done

    # pairs first: the corpus must not contain any of their sentences
    pairs = make_pairs(seed, pairs_per_paradigm)
    good = {r["sentence_good"] for rs in pairs.values() for r in rs}
    bad = {r["sentence_bad"] for rs in pairs.values() for r in rs}
    rejected = {"good": 0, "bad": 0}  # "bad" stays 0 unless the grammar can make an ungrammatical sentence

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        budgets = _split_budgets(words)
        total = sum(budgets.values())
        done_words, last_report = 0, 0
        counts, files = {}, {}
        for split, budget in budgets.items():
            (tmp / split).mkdir(parents=True)
            counts[split] = {}
            for d, domain in enumerate(DOMAINS):
                # the last domain takes the rest, so the split's total is on budget
                share = budget - sum(counts[split].values()) if d == len(DOMAINS) - 1 \
                    else round(budget * DOMAIN_SHARE[domain])
                g = Grammar(f"{GENERATOR}:{VERSION}:{seed}:{split}:{domain}")
                lines, n = [], 0
                while n < share:
                    group = g.lines(domain)
                    sentences = [" ".join(s) for _, ss in group for s in ss]
                    if any(s in good or s in bad for s in sentences):
                        rejected["good"] += sum(s in good for s in sentences)
                        rejected["bad"] += sum(s in bad for s in sentences)
                        continue
                    for speaker, ss in group:
                        line = speaker + " ".join(" ".join(s) for s in ss)
                        lines.append(line)
                        n += len(line.split())
                    if progress is not None and done_words + n - last_report >= 20_000:
                        last_report = done_words + n
                        progress(min(last_report, total), total)
                counts[split][domain] = n
                done_words += n
                rel = f"{split}/{domain}.{split}"
                data = ("\n".join(lines) + "\n").encode("utf-8")
                (tmp / rel).write_bytes(data)
                files[rel] = len(data)

        (tmp / "blimp").mkdir()
        for uid, records in pairs.items():
            rel = f"blimp/{uid}.jsonl"
            data = "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")
            (tmp / rel).write_bytes(data)
            files[rel] = len(data)

        record = {"generator": GENERATOR, **params, "words": counts,
                  "paradigms": {uid: len(rs) for uid, rs in pairs.items()},
                  "paradigm_info": {uid: {"field": f, "linguistics_term": t} for uid, f, t, _ in PARADIGMS},
                  "rejected_corpus_sentences": rejected, "files": files}
        (tmp / "README.md").write_text(_readme(record), encoding="utf-8")
        (tmp / "corpus.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")

        # publish in one step; an empty out_dir (say, made by the user) is replaced
        if out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        try:
            os.rename(tmp, out_dir)
        except OSError:
            # someone else finished the same corpus first: theirs is as good as ours
            done = _existing(out_dir, params)
            if done is None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return done
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress is not None:
        progress(total, total)
    return _summary_of(record, out_dir)


def _readme(record):
    rows = "\n".join(f"| {split} | " + " | ".join(str(record["words"][split][d]) for d in DOMAINS) + " |"
                     for split in record["words"])
    paradigms = "\n".join(f"- `{uid}` ({record['paradigm_info'][uid]['field']}): {n} pairs"
                          for uid, n in record["paradigms"].items())
    return f"""# Built-in corpus (babysweep)

Made by `{GENERATOR}` version {record['version']} with words={record['words_requested']},
seed={record['seed']}, pairs_per_paradigm={record['pairs_per_paradigm']}: synthetic child-directed English
from a small probabilistic grammar, in the BabyLM layout (one utterance a line), with BLiMP-style minimal
pairs made by the same grammar. No pair sentence occurs as a sentence of the corpus. Regenerate it any time:
the output is the same, byte for byte, for the same arguments.

Words (whitespace-separated) per split and domain:

| split | {' | '.join(DOMAINS)} |
|---|{'---|' * len(DOMAINS)}
{rows}

Minimal-pair paradigms (`blimp/<UID>.jsonl`; keys sentence_good, sentence_bad, field, linguistics_term,
UID, pair_id):

{paradigms}
"""
