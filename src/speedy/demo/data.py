"""The demo world's data: small deterministic synthetic Spanish datasets in the real formats."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from speedy.data import XNLI_COLUMNS, read_local

SIZES = {"train": 300, "validation": 80, "test": 80}
FORMATS = {
    "mldoc": "mldoc_tsv",
    "pawsx": "pawsx_tsv",
    "xnli": "xnli_tsv",
    "pos": "conllu",
    "ner": "conll2002",
    "mlqa": "squad_json",
    "sqac": "squad_json",
    "tar_xquad": "squad_json",
}

# ------------------------------------------------------------------ shared lexicon
FIRST_NAMES = [
    "María", "José", "Lucía", "Carlos", "Ana", "Javier", "Carmen", "Miguel", "Elena", "Pablo",
    "Laura", "Andrés", "Isabel", "Diego", "Sofía", "Jorge", "Paula", "Fernando", "Marta", "Raúl",
]  # fmt: skip
SURNAMES = [
    "García", "López", "Martínez", "Rodríguez", "Fernández", "Sánchez", "Pérez", "Gómez",
    "Díaz", "Torres", "Ramírez", "Flores", "Castro", "Morales", "Ortiz", "Vargas",
]  # fmt: skip
CITIES = [
    "Madrid", "Sevilla", "Valencia", "Bilbao", "Lima", "Quito", "Bogotá", "Santiago", "Montevideo",
    "Caracas", "Granada", "Toledo", "Córdoba", "Rosario", "Cusco", "Málaga", "Buenos Aires",
    "Ciudad de México", "La Paz", "San José",
]  # fmt: skip
ORGS = [
    "Telefónica", "Iberdrola", "Repsol", "Banco Santander", "Naciones Unidas", "Cruz Roja",
    "Mercadona", "Inditex", "Grupo Bimbo", "Petrobras", "Real Academia Española", "Banco Mundial",
]  # fmt: skip
EVENTS = [
    "Premio Cervantes", "Mundial de Fútbol", "Festival de Cannes", "Tour de Francia",
    "Premio Nobel", "Campeonato Europeo", "Carnaval de Barranquilla",
]  # fmt: skip
YEARS = [str(y) for y in range(1850, 2021)]

# Splits that the real datasets machine-translated (PAWS-X, XNLI and MLQA train; TAR train and dev) are noisier
# than their human-made test splits: some labels or answer spans are wrong, and some words are left untranslated.
TRANSLATED = {"pawsx": {"train"}, "xnli": {"train"}, "mlqa": {"train"}, "tar_xquad": {"train", "validation"}}
LABEL_NOISE = 0.15  # share of translated examples whose label or answer span the translation broke
WORD_NOISE = 0.08  # share of translated words left in English or mistranslated
UNTRANSLATED = ["the", "of", "which", "however", "was", "and", "to", "that", "with", "this"]


def _person(rng: random.Random) -> str:
    """A first name and a surname."""
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"


def _noise(dataset: str, split: str) -> tuple[float, float]:
    """The label and word noise of one split: non-zero on the splits the real dataset machine-translated."""
    return (LABEL_NOISE, WORD_NOISE) if split in TRANSLATED.get(dataset, ()) else (0.0, 0.0)


def _translate(rng: random.Random, text: str, word_noise: float) -> str:
    """`text` with a share of its words replaced as a poor machine translation would."""
    return " ".join(rng.choice(UNTRANSLATED) if rng.random() < word_noise else w for w in text.split(" "))


def _draw(rng: random.Random, source: list[str] | Callable[[random.Random], str]) -> str:
    """A value from a list of choices or from a function of the rng."""
    return source(rng) if callable(source) else rng.choice(source)


# ------------------------------------------------------------------ mldoc (topic classification)
MLDOC_TOPICS = {
    "CCAT": (
        ["La empresa", "El grupo industrial", "La compañía", "El consejo de administración", "La filial",
         "El fabricante"],
        ["la adquisición de una filial", "un aumento de sus beneficios", "la fusión con su rival",
         "un nuevo contrato de suministro", "la venta de su división de automóviles",
         "el reparto de dividendos entre los accionistas", "la apertura de una nueva fábrica"],
    ),
    "ECAT": (
        ["El banco central", "El ministerio de Economía", "El instituto de estadística", "El economista jefe",
         "El Fondo Monetario"],
        ["una subida de la inflación", "el crecimiento del producto interior bruto", "una caída del desempleo",
         "el déficit fiscal del país", "un aumento de las exportaciones", "el riesgo de recesión",
         "el consumo de los hogares"],
    ),
    "GCAT": (
        ["El gobierno", "El parlamento", "El ministro del Interior", "La oposición", "El tribunal supremo",
         "El sindicato mayoritario"],
        ["una nueva ley de educación", "la reforma de la sanidad pública", "la convocatoria de elecciones",
         "las protestas en la capital", "un acuerdo de paz", "la investigación policial",
         "el debate sobre inmigración"],
    ),
    "MCAT": (
        ["La bolsa", "El índice bursátil", "El mercado de divisas", "El inversor institucional",
         "El operador de materias primas", "El agente de cambio"],
        ["una subida de las acciones", "la cotización del dólar", "una caída de los bonos",
         "los contratos de futuros", "el cierre de la sesión en máximos", "la volatilidad del euro",
         "la compra de materias primas"],
    ),
}  # fmt: skip
MLDOC_VERBS = ["anunció", "analizó", "destacó", "comentó", "confirmó", "explicó"]
MLDOC_TIMES = ["el lunes", "esta semana", "durante el último trimestre", "ayer por la tarde", "a principios de año"]


def _mldoc_sentence(rng: random.Random, topic: str) -> str:
    subjects, objects = MLDOC_TOPICS[topic]
    return f"{rng.choice(subjects)} {rng.choice(MLDOC_VERBS)} {rng.choice(objects)} {rng.choice(MLDOC_TIMES)}."


def _mldoc(rng: random.Random, split: str, size: int) -> str:
    lines = []
    for _ in range(size):
        label = rng.choice(sorted(MLDOC_TOPICS))
        topics = [label] * rng.randint(2, 3)
        if rng.random() < 0.15:  # a sentence off topic, so the task is not trivial
            topics[rng.randrange(len(topics))] = rng.choice(sorted(MLDOC_TOPICS))
        lines.append(f"{label}\t{' '.join(_mldoc_sentence(rng, t) for t in topics)}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ pawsx (paraphrase vs word swap)
PAWS_VERBS = [
    ("visitó", "fue a ver"), ("llamó", "telefoneó"), ("ayudó", "socorrió"), ("esperó", "aguardó"),
    ("contrató", "empleó"), ("felicitó", "dio la enhorabuena"), ("entrevistó", "hizo una entrevista"),
]  # fmt: skip
PAWS_TIMES = [
    ("ayer", "el día anterior"), ("por la mañana", "durante la mañana"), ("hace dos años", "dos años atrás"),
    ("el lunes", "el primer día de la semana"), ("en verano", "durante el verano"),
]  # fmt: skip


def _paws_sentence(a: str, b: str, verb: str, place: str, time: str, time_first: bool) -> str:
    if time_first:
        return f"{time[0].upper()}{time[1:]}, {a} {verb} a {b} en {place}."
    return f"{a} {verb} a {b} en {place} {time}."


def _pawsx(rng: random.Random, split: str, size: int) -> str:
    label_noise, word_noise = _noise("pawsx", split)
    lines = ["\t".join(("id", "sentence1", "sentence2", "label"))]
    for i in range(size):
        a, b = rng.sample(FIRST_NAMES, 2)
        verb, verb_synonym = rng.choice(PAWS_VERBS)
        time, time_synonym = rng.choice(PAWS_TIMES)
        city = rng.choice(CITIES)
        first = _paws_sentence(a, b, verb, city, time, False)
        label = rng.randint(0, 1)
        if label:  # a paraphrase: synonyms (at least one) and maybe the time moved to the front
            swaps = rng.choice([(True, False, False), (False, True, False), (False, False, True), (True, True, False)])
            second = _paws_sentence(
                a,
                b,
                verb_synonym if swaps[0] else verb,
                f"la ciudad de {city}" if swaps[2] else city,
                time_synonym if swaps[1] else time,
                rng.random() < 0.4,
            )
        else:  # an adversarial pair: the same words, the two people swapped
            second = _paws_sentence(b, a, verb, city, time, rng.random() < 0.4)
        if rng.random() < label_noise:
            label = 1 - label
        first, second = _translate(rng, first, word_noise), _translate(rng, second, word_noise)
        lines.append(f"{i + 1}\t{first}\t{second}\t{label}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ xnli (entailment / neutral / contradiction)
XNLI_ACTIONS = [
    ("compró", "un coche nuevo"), ("leyó", "una novela"), ("cocinó", "una paella"), ("pintó", "un cuadro"),
    ("escribió", "una carta"), ("vendió", "su casa"), ("visitó", "un museo"), ("reparó", "una bicicleta"),
]  # fmt: skip
XNLI_TIMES = ["ayer", "el domingo", "la semana pasada", "el año pasado", "por la noche"]
XNLI_HYPOTHESES = {
    "entailment": ["{a} estuvo en {place}.", "Alguien {verb} {obj}.", "{a} {verb} algo {time}."],
    "neutral": [
        "{a} {verb} {obj} porque quería hacer un regalo.", "{a} tiene tres hermanos.",
        "{a} estaba muy cansado ese día.", "{a} volverá a {place} el próximo año.",
    ],
    "contradiction": ["{a} nunca estuvo en {place}.", "{a} no {verb} nada {time}.", "Nadie {verb} {obj} en {place}."],
}  # fmt: skip
XNLI_FOREIGN = {
    "en": ("The man bought a new car yesterday.", "Somebody bought a car."),
    "fr": ("La femme a lu un roman hier soir.", "Personne n'a lu de roman."),
    "de": ("Der Junge hat eine Paella gekocht.", "Der Junge hat drei Brüder."),
}
XNLI_GENRES = ["fiction", "government", "slate", "telephone", "travel"]


def _parses(sentence: str) -> tuple[str, str]:
    """Stand-ins for the binary and full constituency parses of the XNLI files."""
    words = re.findall(r"\w+|[^\w\s]", sentence)
    return f"( {' '.join(words)} )", f"(ROOT (S {' '.join(f'(X {w})' for w in words)}))"


def _xnli_row(language: str, label: str, premise: str, hypothesis: str, prompt: int, pair: int, genre: str) -> str:
    binary1, parse1 = _parses(premise)
    binary2, parse2 = _parses(hypothesis)
    fields = [language, label, binary1, binary2, parse1, parse2, premise, hypothesis, str(prompt), str(pair), genre]
    return "\t".join(fields + [label] * 5)


def _xnli(rng: random.Random, split: str, size: int) -> str:
    label_noise, word_noise = _noise("xnli", split)
    lines = ["\t".join(XNLI_COLUMNS)]
    pair = 0
    for prompt in range(size):
        if rng.random() < 0.15:  # rows in other languages, which the loader drops
            language = rng.choice(sorted(XNLI_FOREIGN))
            pair += 1
            lines.append(_xnli_row(language, "neutral", *XNLI_FOREIGN[language], prompt, pair, "travel"))
        a, (verb, obj), place, time = _person(rng), rng.choice(XNLI_ACTIONS), rng.choice(CITIES), rng.choice(XNLI_TIMES)
        premise = f"{a} {verb} {obj} en {place} {time}."
        label = rng.choice(sorted(XNLI_HYPOTHESES))
        hypothesis = rng.choice(XNLI_HYPOTHESES[label]).format(a=a, verb=verb, obj=obj, place=place, time=time)
        if rng.random() < label_noise:
            label = rng.choice(sorted(set(XNLI_HYPOTHESES) - {label}))
        premise, hypothesis = _translate(rng, premise, word_noise), _translate(rng, hypothesis, word_noise)
        pair += 1
        lines.append(_xnli_row("es", label, premise, hypothesis, prompt, pair, rng.choice(XNLI_GENRES)))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ pos (CoNLL-U with multiword tokens)
NOUNS = {
    "m": ["perro", "libro", "coche", "niño", "mercado", "pueblo", "médico", "tren", "jardín", "vecino"],
    "f": ["casa", "mesa", "ciudad", "niña", "empresa", "calle", "montaña", "playa", "escuela", "ventana"],
}
DETS = {"m": ["el", "un", "este"], "f": ["la", "una", "esta"]}
ADJS = [("nuevo", "nueva"), ("pequeño", "pequeña"), ("antiguo", "antigua"), ("bonito", "bonita"), ("rojo", "roja")]
PLURALS = ["perros", "libros", "casas", "niños", "coches", "árboles", "turistas"]
NUMBERS = ["dos", "tres", "cinco", "diez", "veinte", "cien"]
# A sentence is a list of items: (upos, form) for a word, or ("MWT", form, [(part, upos), ...]) for a multiword token.
Item = tuple[Any, ...]


def _pos_templates(rng: random.Random) -> list[list[Item]]:
    """One instance of every sentence pattern; the nouns, adjectives and determiners agree in gender."""
    g1, g2 = rng.choice("mf"), rng.choice("mf")
    adj = rng.choice(ADJS)
    det1, noun1 = rng.choice(DETS[g1]), rng.choice(NOUNS[g1])
    det2, noun2 = rng.choice(DETS[g2]), rng.choice(NOUNS[g2])
    city, name = rng.choice([c for c in CITIES if " " not in c]), rng.choice(FIRST_NAMES)
    return [
        [("DET", det1), ("NOUN", noun1), ("ADJ", adj[g1 == "f"]),
         ("VERB", rng.choice(["corre", "duerme", "espera", "llega", "cambia"])),
         ("ADV", rng.choice(["hoy", "ayer", "siempre", "también", "mañana"])), ("PUNCT", ".")],
        [("PROPN", name), ("AUX", "ha"), ("VERB", rng.choice(["comprado", "visto", "pintado", "vendido"])),
         ("DET", det1), ("NOUN", noun1), ("CCONJ", rng.choice(["y", "o"])), ("DET", det2), ("NOUN", noun2),
         ("PUNCT", ".")],
        [("PRON", rng.choice(["Ella", "Él", "Usted"])), ("VERB", rng.choice(["dice", "cree", "piensa"])),
         ("SCONJ", "que"), ("DET", det1), ("NOUN", noun1), ("AUX", rng.choice(["es", "está"])),
         ("ADV", "muy"), ("ADJ", adj[g1 == "f"]), ("PUNCT", ".")],
        [("NUM", rng.choice(NUMBERS)), ("NOUN", rng.choice(PLURALS)),
         ("VERB", rng.choice(["llegaron", "viajaron", "volvieron"])), ("ADP", rng.choice(["a", "desde", "hacia"])),
         ("PROPN", city), ("ADV", rng.choice(["ayer", "pronto", "tarde"])), ("PUNCT", ".")],
        [("DET", det1), ("NOUN", noun1), ("MWT", "del", [("de", "ADP"), ("el", "DET")]),
         ("NOUN", rng.choice(NOUNS["m"])), ("AUX", "es"), ("ADJ", adj[g1 == "f"]), ("PUNCT", ".")],
        [("PROPN", name), ("VERB", rng.choice(["fue", "volvió", "llegó"])),
         ("MWT", "al", [("a", "ADP"), ("el", "DET")]),
         ("NOUN", rng.choice(NOUNS["m"])), ("ADP", "con"), ("DET", det2), ("NOUN", noun2), ("PUNCT", ".")],
        [("PUNCT", "¡"), ("INTJ", rng.choice(["Hola", "Vaya", "Caramba"])), ("PUNCT", ","), ("PROPN", name),
         ("PUNCT", "!")],
        [("DET", "El"), ("NOUN", "precio"), ("ADP", "de"), ("DET", det1), ("NOUN", noun1), ("VERB", "subió"),
         ("DET", "un"), ("NUM", str(rng.randint(2, 40))), ("SYM", "%"), ("PUNCT", ".")],
        [("PUNCT", "¿"), ("ADV", rng.choice(["Dónde", "Cuándo"])), ("AUX", "está"), ("DET", det1),
         ("NOUN", noun1), ("PUNCT", "?")],
    ]  # fmt: skip


def _conllu_sentence(sent_id: str, items: list[Item]) -> str:
    forms = [item[1] for item in items]
    first = 1 if forms[0] in ("¡", "¿") else 0
    forms[first] = forms[first][0].upper() + forms[first][1:]
    lines = [f"# sent_id = {sent_id}", f"# text = {' '.join(forms)}"]
    n = 0
    for item, form in zip(items, forms):
        parts = item[2] if item[0] == "MWT" else [(form, item[0])]
        if item[0] == "MWT":
            lines.append(f"{n + 1}-{n + len(parts)}\t{form}\t_\t_\t_\t_\t_\t_\t_\t_")
        for part, upos in parts:
            n += 1
            head, deprel = ("0", "root") if n == 1 else ("1", "dep")
            lines.append(f"{n}\t{part}\t{part.lower()}\t{upos}\t_\t_\t{head}\t{deprel}\t_\t_")
    return "\n".join(lines) + "\n"


def _pos(rng: random.Random, split: str, size: int) -> str:
    return "\n".join(_conllu_sentence(f"{split}-{i + 1}", rng.choice(_pos_templates(rng))) for i in range(size))


# ------------------------------------------------------------------ ner (CoNLL-2002, BIO)
NER_TEMPLATES = [
    "{PER} , portavoz de {ORG} , llegó ayer a {LOC} .",
    "Los directivos de {ORG} celebraron el {MISC} en {LOC} .",
    "Según {PER} , la reunión de {ORG} se hará en {LOC} el próximo lunes .",
    "{PER} y {PER} presentaron en {LOC} el informe anual de {ORG} .",
    "{PER} nació en {LOC} y trabaja para {ORG} desde hace años .",
    "Los trabajadores de {ORG} protestaron frente al ayuntamiento de {LOC} .",
    "{PER} ganó el {MISC} con una obra sobre {LOC} .",
    "El tiempo será soleado durante todo el fin de semana .",
]
NER_SOURCES = {"PER": _person, "ORG": ORGS, "LOC": CITIES, "MISC": EVENTS}


def _ner_sentence(rng: random.Random) -> list[tuple[str, str]]:
    rows = []
    for token in rng.choice(NER_TEMPLATES).split():
        match = re.fullmatch(r"\{(\w+)\}", token)
        if match:
            words = _draw(rng, NER_SOURCES[match.group(1)]).split()
            rows += [(w, f"{'B' if i == 0 else 'I'}-{match.group(1)}") for i, w in enumerate(words)]
        else:
            rows.append((token, "O"))
    return rows


def _ner(rng: random.Random, split: str, size: int) -> str:
    blocks = ["-DOCSTART- O\n"]
    blocks += ["".join(f"{w} {t}\n" for w, t in _ner_sentence(rng)) for _ in range(size)]
    return "\n".join(blocks)


# ------------------------------------------------------------------ question answering (SQuAD v1.1 JSON)
# A theme: the entity slot, each slot's values (a list to choose from or a function of the rng),
# and the sentences as (template, [(question template, answer slot)]); the first sentence always opens.
Theme = dict[str, Any]
QA_THEMES: dict[str, Theme] = {
    "mlqa": {  # biographies
        "entity": "name",
        "values": {
            "name": _person,
            "city": CITIES,
            "year": YEARS[:100],
            "field": ["medicina", "derecho", "física", "historia", "arquitectura", "biología"],
            "university": [f"Universidad de {city}" for city in CITIES],
            "years": ["tres", "cinco", "siete", "diez", "doce", "veinte"],
            "job": ["profesora", "investigador", "médica", "periodista", "ingeniero"],
            "org": ORGS,
            "award": ["Premio Cervantes", "Premio Nacional de Ciencias", "Premio Princesa de Asturias"],
            "topic": ["las enfermedades tropicales", "la energía solar", "los volcanes", "el clima"],
            "place": CITIES,
            "death": YEARS[100:],
        },
        "sentences": [
            ("{name} nació en {city} en el año {year}.",
             [("¿En qué ciudad nació {name}?", "city"), ("¿En qué año nació {name}?", "year")]),
            ("Estudió {field} en la {university} y se graduó con las mejores notas de su promoción.",
             [("¿Qué estudió {name}?", "field"), ("¿En qué universidad estudió {name}?", "university")]),
            ("Durante {years} años trabajó como {job} en {org}, donde dirigió varios proyectos importantes.",
             [("¿Cuántos años trabajó {name} en {org}?", "years"), ("¿Dónde trabajó {name}?", "org")]),
            ("Recibió el {award} por sus investigaciones sobre {topic}.",
             [("¿Qué premio recibió {name}?", "award"), ("¿Sobre qué investigó {name}?", "topic")]),
            ("Más tarde se trasladó a {place}, donde vivió hasta su muerte en {death}.",
             [("¿A qué ciudad se trasladó {name}?", "place"), ("¿En qué año murió {name}?", "death")]),
        ],
    },
    "sqac": {  # towns
        "entity": "town",
        "values": {
            "town": [f"{a} {b}" for a in ("Villa", "Puerto", "San Juan de", "Santa Cruz de", "Valle")
                     for b in ("Alta", "Blanca", "Hermosa", "Real", "Nueva", "Clara", "Serena")],
            "region": ["Castilla", "Galicia", "Aragón", "Andalucía", "Cantabria"],
            "river": ["Duero", "Ebro", "Tajo", "Guadiana", "Miño", "Segura"],
            "year": YEARS,
            "founder": _person,
            "population": lambda rng: f"{rng.randint(2, 95)}.{rng.randint(100, 999)}",
            "monument": ["la catedral de piedra", "el puente romano", "el castillo árabe", "la muralla medieval",
                         "el monasterio"],
            "industry": ["la pesca", "el turismo", "la agricultura", "la minería", "el vino"],
            "month": ["enero", "marzo", "mayo", "julio", "agosto", "octubre"],
        },
        "sentences": [
            ("{town} es una ciudad de la región de {region}, a orillas del río {river}.",
             [("¿En qué región está {town}?", "region"), ("¿Qué río pasa por {town}?", "river")]),
            ("Fue fundada en el año {year} por {founder}, un comerciante que buscaba un puerto seguro.",
             [("¿Quién fundó {town}?", "founder"), ("¿Cuándo fue fundada {town}?", "year")]),
            ("Hoy tiene {population} habitantes, la mayoría de los cuales vive en el centro histórico.",
             [("¿Cuántos habitantes tiene {town}?", "population")]),
            ("Su monumento más conocido es {monument}, que atrae a miles de turistas cada verano.",
             [("¿Cuál es el monumento más conocido de {town}?", "monument")]),
            ("La economía local depende sobre todo de {industry}, aunque el comercio crece cada año.",
             [("¿De qué depende la economía de {town}?", "industry")]),
            ("Las fiestas mayores se celebran en {month} con música, bailes y comidas populares.",
             [("¿En qué mes se celebran las fiestas de {town}?", "month")]),
        ],
    },
    "tar_xquad": {  # companies
        "entity": "company",
        "values": {
            "company": [f"{a} {b}" for a in ("Industrias", "Talleres", "Laboratorios", "Editorial", "Almacenes")
                        for b in SURNAMES],
            "year": YEARS,
            "founder": _person,
            "city": CITIES,
            "product": ["el aceite de oliva", "los zapatos de cuero", "las bicicletas", "los libros de texto",
                        "el chocolate", "los paneles solares"],
            "countries": [str(n) for n in range(3, 60)],
            "employees": lambda rng: f"{rng.randint(2, 40)}.{rng.randint(100, 999)}",
            "ceo": _person,
            "hq": CITIES,
            "sector": ["la alimentación", "el transporte", "la energía", "la moda"],
        },
        "sentences": [
            ("{company} es una empresa fundada en {year} por {founder} en {city}.",
             [("¿Quién fundó {company}?", "founder"), ("¿En qué año se fundó {company}?", "year"),
              ("¿Dónde se fundó {company}?", "city")]),
            ("Su principal producto es {product}, que se vende en más de {countries} países.",
             [("¿Cuál es el principal producto de {company}?", "product"),
              ("¿En cuántos países vende sus productos {company}?", "countries")]),
            ("Actualmente emplea a {employees} personas y su director general es {ceo}.",
             [("¿Cuántas personas emplea {company}?", "employees"), ("¿Quién dirige {company}?", "ceo")]),
            ("Hace unos años la compañía trasladó su sede principal a {hq} para estar cerca de sus clientes.",
             [("¿A qué ciudad trasladó {company} su sede?", "hq")]),
            ("Compite con otras grandes firmas del sector de {sector} en Europa y en América.",
             [("¿En qué sector trabaja {company}?", "sector")]),
        ],
    },
}  # fmt: skip
QA_FILLERS = [
    "Su historia aparece en numerosos libros y documentales.",
    "Muchos expertos consideran que su influencia fue decisiva en toda la región durante aquellos años.",
    "Los periódicos de la época dedicaron largos artículos a estos acontecimientos.",
    "Todavía hoy se organizan visitas guiadas y conferencias para recordar aquella etapa.",
]
QA_WORDS = (30, 60)  # the range of a context's length in words: most fit one window


def _fill(template: str, values: dict[str, str]) -> tuple[str, dict[str, int]]:
    """A template with its slots filled, and where each slot's value starts (first occurrence)."""
    text, starts = "", {}
    for i, piece in enumerate(re.split(r"\{(\w+)\}", template)):
        if i % 2:
            starts.setdefault(piece, len(text))
            piece = values[piece]
        text += piece
    return text, starts


def _words(sentences: list[tuple[str, list[Any]]], values: dict[str, str]) -> int:
    """The number of words of the filled sentences."""
    return sum(len(_fill(template, values)[0].split()) for template, _ in sentences)


def _distinct_values(rng: random.Random, sources: dict[str, Any]) -> dict[str, str]:
    """One value per slot, none inside another (so each answer has one place in the paragraph)."""
    values: dict[str, str] = {}
    for slot, source in sources.items():
        value = _draw(rng, source)
        while any(value in other or other in value for other in values.values()):
            value = _draw(rng, source)
        values[slot] = value
    return values


def _qa_paragraph(rng: random.Random, theme: Theme) -> tuple[str, str, list[tuple[str, str, int]]]:
    """A title, a context and its questions (question, answer, answer_start)."""
    values = _distinct_values(rng, theme["values"])
    first, *rest = theme["sentences"]
    pool = rest + [(filler, []) for filler in rng.sample(QA_FILLERS, 2)]
    budget = rng.randint(*QA_WORDS)
    chosen = [first]
    for sentence in rng.sample(pool, len(pool)):
        if _words(chosen + [sentence], values) <= budget:
            chosen.append(sentence)
    context, questions = "", []
    for template, asks in chosen:
        text, starts = _fill(template, values)
        offset = len(context) + (1 if context else 0)
        context = f"{context} {text}" if context else text
        questions += [(_fill(q, values)[0], values[slot], offset + starts[slot]) for q, slot in asks]
    return values[theme["entity"]], context, questions


def _second_answer(context: str, answer: str, start: int) -> dict[str, Any]:
    """Another gold span for the same answer: without its article, or with the word before it."""
    article = re.match(r"(el|la|los|las) ", answer)
    if article:
        return {"text": answer[article.end() :], "answer_start": start + article.end()}
    before = context.rfind(" ", 0, start - 1) + 1
    return {"text": context[before : start + len(answer)], "answer_start": before}


def _qa(dataset: str) -> Callable[[random.Random, str, int], str]:
    """The writer of one QA dataset's SQuAD JSON."""

    def write(rng: random.Random, split: str, size: int) -> str:
        span_noise, word_noise = _noise(dataset, split)
        articles, count = [], 0
        while count < size:
            title, context, questions = _qa_paragraph(rng, QA_THEMES[dataset])
            qas = []
            for question, answer, start in rng.sample(questions, min(len(questions), 4, size - count)):
                answers = [{"text": answer, "answer_start": start}]
                if rng.random() < span_noise:  # a span misaligned by the translation: one word too many
                    answers = [_second_answer(context, answer, start)]
                question = _translate(rng, question, word_noise)
                if split == "test" and rng.random() < 0.3:
                    answers.append(_second_answer(context, answer, start))
                qas.append({"id": f"{dataset}-{split}-{count:04d}", "question": question, "answers": answers})
                count += 1
            articles.append({"title": title, "paragraphs": [{"context": context, "qas": qas}]})
        return json.dumps({"version": "1.1", "data": articles}, ensure_ascii=False, indent=1) + "\n"

    return write


WRITERS: dict[str, Callable[[random.Random, str, int], str]] = {
    "mldoc": _mldoc,
    "pawsx": _pawsx,
    "xnli": _xnli,
    "pos": _pos,
    "ner": _ner,
    **{dataset: _qa(dataset) for dataset in QA_THEMES},
}


def _write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(temp, path)


def write_demo_dataset(dataset: str, split: str, path: str | Path, fmt: str, seed: int) -> None:
    """Write one split of a synthetic demo dataset in its distributed format (same seed, same bytes)."""
    if dataset not in WRITERS:
        raise ValueError(f"no demo generator for dataset {dataset!r}; there are {sorted(WRITERS)}")
    if fmt != FORMATS[dataset]:
        raise ValueError(f"the demo {dataset} data is written as {FORMATS[dataset]!r}, not {fmt!r}")
    if split not in SIZES:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SIZES)}")
    rng = random.Random(f"{seed}/{dataset}/{split}")
    _write_atomic(Path(path), WRITERS[dataset](rng, split, SIZES[split]))


def corpus_texts(files: Mapping[str, str]) -> Iterator[str]:
    """The Spanish text of source files (path -> format): sentences, pairs, questions, contexts and joined words."""
    for file, fmt in files.items():
        for record in read_local(file, fmt):
            yield from (record[field] for field in ("text", "text_pair", "question", "context") if field in record)
            if "words" in record and "context" not in record:
                yield " ".join(record["words"])


def write_demo_corpus(datasets: Mapping[str, str], size: int, path: str | Path, seed: int) -> int:
    """Write the unlabelled pre-training corpus, one text per line: `size` records per dataset (name -> format),
    drawn afresh (none is in a split) and read back through the real loaders. Returns the number of lines."""
    path = Path(path)
    staging = path.with_name(f".{path.name}.{os.getpid()}.parts")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        files = {}
        for dataset, fmt in datasets.items():
            files[str(staging / dataset)] = fmt
            _write_atomic(staging / dataset, WRITERS[dataset](random.Random(f"{seed}/{dataset}/corpus"), "corpus", size))
        texts = sorted(set(corpus_texts(files)))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    random.Random(f"{seed}/corpus").shuffle(texts)
    _write_atomic(path, "\n".join(texts) + "\n")
    return len(texts)
