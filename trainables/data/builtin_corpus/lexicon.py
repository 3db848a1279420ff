"""The words of the built-in corpus, and the pools the grammar draws them from.

About 500 word forms in small tables, parsed once at import:
  nouns        81: people (with gender), animals, food, things; regular and irregular plurals (man/men,
               mouse/mice, leaf/leaves...)
  places       10, each with the prepositions it takes (in the park, under the table)
  names        12: six boys', six girls'
  verbs        46: 18 intransitive, 28 transitive with the classes of object they take; base, 3rd singular,
               past (irregular ones too), -ing
  adjectives   37, each for the noun classes it describes
  pronouns     subject, object; the reflexive follows from the agreement (Grammar.reflexive)
  determiners  the a/an this that these those some two three my your our his her their, by number

Every pool is a list or a tuple, never a set: the grammar samples by position, so the order of each pool is
part of the output (same seed, same bytes).
"""
from typing import NamedTuple


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
