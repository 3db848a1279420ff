"""The grammar of the built-in corpus: a small probabilistic grammar of child-directed English.

All text is lower case; punctuation marks are separate tokens ("the dog runs .").
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

Every random choice comes from one `random.Random` per Grammar, seeded by `grammar_for` with the generator's
name and version: the corpus and its pairs are a pure function of the arguments.
"""
import random

from .lexicon import (ACTION_TRANSITIVE, ADJ_FOR, ANIMATE, CONCRETE, DIALOGUE_FILLERS, FILLERS, INANIMATE,
                      INTRANSITIVE, NAMES, NEGATIVE, NP_PREPS, OBJ_DETS, PLACES, PROGRESSIVE_VERBS, PRONOUN,
                      PRONOUNS, REFLEXIVE_VERBS, SUBJ_DETS, THIRD_PERSON, TRANSITIVE, VERBS, VERBS_TAKING, Agr,
                      nouns)

GENERATOR = "babysweep.builtin_corpus"
VERSION = 3  # bump whenever the output for given arguments changes (2: the EWoK-format items; 3: fair ones)


def grammar_for(*parts) -> "Grammar":
    """The Grammar of one random stream, named by the generator, its version and `parts` (seed, split,
    domain, paradigm...): another stream for each, the same one in every run."""
    return Grammar(":".join([GENERATOR, str(VERSION), *map(str, parts)]))


class Grammar:
    """One random stream through the grammar. Every method returns a list of words (noun phrases and
    subjects also return the Agr that agrees with them)."""

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
