"""What attacks look like in text: instruction overrides, role-play, tool and URL calls, off-scope tasks.

The lists are written from the red-team cases' phrasing families (evals/data/redteam.jsonl), not from
single strings, and every pattern is checked against the benign clinical questions for false blocks.
"""

from __future__ import annotations

import base64
import re
import unicodedata

__all__ = [
    "BULK_IDENTIFIERS",
    "CLINICAL_TERMS",
    "DATA_INSTRUCTION",
    "FOREIGN_PATIENT",
    "INJECTION",
    "OFF_TASK",
    "OFF_TOPIC",
    "URL",
    "canonical",
    "normalize",
]

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# Cyrillic and Greek letters drawn like Latin ones ("Іgnоrе рrеviоus" is mostly Cyrillic): NFKC keeps
# them, so they are folded to the Latin letter they imitate before any pattern is matched.
_CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "з": "3", "і": "i", "ї": "i", "ј": "j", "к": "k",
        "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x",
        "ѕ": "s", "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ɡ": "g", "ӏ": "l",
        "А": "A", "В": "B", "Е": "E", "Ё": "E", "І": "I", "Ї": "I", "Ј": "J", "К": "K", "М": "M",
        "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "Ԁ": "D",
        "Һ": "H", "Ԛ": "Q", "Ԝ": "W", "Ӏ": "I",
        # Greek
        "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
        "υ": "u", "χ": "x", "γ": "y", "ω": "w",
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
        "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    }
)  # fmt: skip
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_B64 = re.compile(r"\b[A-Za-z0-9+/]{24,}={0,2}")

_VERBS = r"(?:ignore|disregard|forget|override|bypass|skip|drop|abandon|set aside|do not follow|don'?t follow|stop following)"
_TARGETS = (
    r"(?:instructions?|rules?|guidelines?|guardrails?|prompts?|directives?|constraints?|polic(?:y|ies)|"
    r"safety (?:checks?|filters?|rules?)|programming|training|restrictions?|system message)"
)

INJECTION = re.compile(
    rf"\b{_VERBS}\b[^.?!\n]{{0,40}}\b{_TARGETS}\b"
    r"|\byou are (?:now|no longer)\b|\bfrom now on,? (?:you|act|respond|answer)\b"
    r"|\b(?:act|behave|respond|answer) as (?:if you (?:were|are)|an? (?:unrestricted|unfiltered|uncensored|evil|different))"
    r"|\bpretend (?:to be|you(?:'re| are))\b|\brole-?play\b|\bstay in character\b"
    r"|\b(?:dan|stan|aim) mode\b|\bdo anything now\b|\bdeveloper mode\b|\bgod mode\b|\bjail ?break"
    r"|\b(?:reveal|print|show|repeat|output|leak|dump)\b[^.?!\n]{0,30}\b(?:system|hidden|initial|original) (?:prompt|instructions?|message)"
    r"|\bsystem prompt\b|\bno (?:restrictions|filters|limits|rules|guardrails)\b|\bunfiltered\b|\buncensored\b"
    r"|\bnew (?:instructions?|rules?|task)\s*:|\b(?:admin|root|sudo|maintenance|debug) (?:mode|override|access)\b"
    r"|<\|?(?:im_start|im_end|system|endoftext)\|?>|\[/?(?:inst|system)\]|###\s*(?:instruction|system)\b"
    r"|\b(?:disable|turn off|switch off|deactivate)\b[^.?!\n]{0,30}\b(?:safety|guard|filter|check|citation)"
    r"|\bwithout (?:any )?(?:citations?|safety|warnings?|disclaimers?|checks?)\b"
    r"|\b(?:hypothetically|in a fictional (?:world|story)|for a novel)\b[^.?!\n]{0,80}\b(?:dose|overdose|kill|lethal)",
    re.I,
)

DATA_INSTRUCTION = re.compile(
    INJECTION.pattern + r"|^\s*(?:assistant|system|ai|model|chatbot|llm)\s*:"
    r"|\b(?:as an ai|language model|the (?:assistant|ai|model|chatbot) (?:must|should|will))\b"
    r"|\b(?:you must|you should|you will|always|never)\b[^.?!\n]{0,20}\b(?:say|tell|respond|reply|answer|output|recommend|write|state|cite|include|append)\b"
    r"|\b(?:tell|instruct|advise|inform) (?:the )?(?:user|clinician|doctor|reader|physician)s? (?:to|that)\b"
    r"|\b(?:call|invoke|use|run|execute|trigger) (?:the )?(?:tool|function|api|plugin|command|webhook|script)\b"
    r"|\b(?:send|post|forward|upload|email|e-mail|exfiltrate|transmit)\b[^.?!\n]{0,40}\b(?:to|at)\b[^.?!\n]{0,20}(?:https?://|www\.|@|\bserver\b|\bendpoint\b)"
    r"|https?://|\bwww\.[a-z0-9-]+\.|\bcurl\b|\bwget\b|<script|javascript:"
    r"|\b(?:when|if) (?:summari[sz]ing|answering|asked)\b[^.?!\n]{0,40}\b(?:say|tell|state|recommend|respond|include)\b",
    re.I | re.M,
)

URL = re.compile(r"https?://\S+|\bwww\.[a-z0-9-]+\.[a-z.]{2,}\S*|\b[\w.+-]+@[\w-]+\.[\w.]{2,}\b", re.I)

FOREIGN_PATIENT = re.compile(
    r"\b(?:other|another|different|every|all|each|any other|the previous|the last|the next) (?:patients?|persons?|people|users?|members?)(?:'s|s')?\b"
    r"|\b(?:list|show|dump|export|give me|enumerate|search)\b[^.?!\n]{0,30}\b(?:all|every|each) (?:the )?(?:patients|records|charts|people)\b"
    r"|\b(?:patients?|person|chart|records?) (?:named|called|with (?:the )?(?:name|mrn|ssn|social))\b"
    r"|\b(?:switch|change) (?:to )?(?:the )?(?:patient|chart|record)\b"
    r"|\bwho (?:else|other)\b|\b(?:mrn|ssn|social security)\b[^.?!\n]{0,20}\d"
    r"|\b(?:in|from) (?:bed|room) \d+\b|\b(?:my|his|her) (?:neighbou?r|ex|husband|wife|boss|coworker|colleague)'?s?\b",
    re.I,
)

# Bulk requests for identifiers (whose patients are in the index, their MRNs, a CSV of ids): never a
# clinical question, whatever the phrasing. The families: a verb of extraction near an identifier
# noun; "all/every/complete list of ... ids"; ids "stored in your index/database"; an export format.
_GET = (
    r"(?:export|dump|list|download|extract|give me|print|output|enumerate|show|send|return|provide|"
    r"retrieve|fetch|pull|get|compile|generate|produce|copy|share|e-?mail|tell me|what are)"
)
_IDS = (
    r"(?:ids|identifiers|mrns|uuids|ssns|(?:medical )?record numbers|names|roster|census|registry|directory)"
)
BULK_IDENTIFIERS = re.compile(
    rf"\b{_GET}\b[^.?!\n]{{0,50}}\b(?:patients'?|patient|members'?|member|persons|people|subjects|users)\s+{_IDS}\b"
    rf"|\b(?:all|every|each|complete|full|entire|whole)\b[^.?!\n]{{0,30}}\b(?:patient |member |record )?"
    r"(?:ids?|identifiers?|mrns?|uuids?|ssns?|record numbers?)\b"
    rf"|\b{_GET}\b[^.?!\n]{{0,30}}\b(?:ids|identifiers|mrns|uuids|ssns|names|record numbers) of (?:the |all |every |your )?"
    r"(?:patients|members|people|persons|records|charts)\b"
    r"|\b(?:which|what|how many)\s+(?:patient|member|person)\s+(?:ids|identifiers|mrns|uuids|names)\b"
    r"|\b(?:ids|identifiers|mrns|uuids|ssns)\b[^.?!\n]{0,40}\b(?:stored|indexed|held|kept|in (?:your|the) "
    r"(?:index|database|store|system|collection|records?))\b"
    r"|\b(?:complete|full|entire|whole) (?:list|set|dump|export|roster|table|copy) of (?:the |all )?(?:patients|records|charts|people)\b"
    r"|\b(?:export|dump|download)\b[^.?!\n]{0,60}\b(?:as|to|in(?:to)?) (?:a |an )?(?:csv|json|excel|xlsx|spreadsheet|text file|file)\b",
    re.I,
)

# Tasks this assistant never does, whatever the subject.
OFF_TASK = re.compile(
    r"\b(?:write|compose|draft|generate|create|make up|tell)\b[^.?!\n]{0,40}\b(?:poem|song|lyrics|story|joke|essay|novel|limerick|haiku|rap|screenplay|tweet|cover letter|resume|speech)\b"
    r"|\b(?:python|javascript|typescript|java|c\+\+|rust|golang|sql|html|css|regex|bash|powershell)\b"
    r"|\b(?:code|script|program|function|app|website)\b[^.?!\n]{0,20}\b(?:for|that|to)\b[^.?!\n]{0,40}\b(?:scrape|sort|parse|hack|crack|download|mine)\b"
    r"|\b(?:translate (?:this|the following)|homework|math problem|solve for x|tax return|mortgage|car insurance)\b"
    r"|\b(?:hack|phish|malware|ransomware|keylogger|ddos|exploit)\b"
    r"|\b(?:how (?:do|can) i|help me)\b[^.?!\n]{0,40}\b(?:buy|get|obtain|forge|fake)\b[^.?!\n]{0,30}\b(?:prescription|controlled|oxycodone|fentanyl|without a prescription)\b"
    r"|\b(?:lethal|fatal|deadly) (?:dose|amount|combination)\b|\b(?:kill|poison|harm) (?:someone|somebody|him|her|them|my)\b"
    r"|\b(?:undetectable|untraceable)\b",
    re.I,
)

# Subjects outside medicine; a question about them is off scope unless it also has a clinical
# subject ("return to soccer after ACL reconstruction" is sports medicine, not sport).
OFF_TOPIC = re.compile(
    r"\b(?:weather|forecast|stock|stocks|bitcoin|crypto|ethereum|lottery|casino|bet|betting|horoscope|zodiac)\b"
    r"|\b(?:football|soccer|baseball|basketball|cricket|nba|nfl|world cup|super bowl|olympics|election|president of|prime minister)\b"
    r"|\b(?:recipe|cook|bake|restaurant|vacation|flight|hotel|itinerary|movie|netflix|tv show|video game|fortnite|minecraft)\b"
    r"|\b(?:capital of)\b",
    re.I,
)

# Stems of clinical vocabulary: a question with none of them is outside clinical decision support.
CLINICAL_TERMS = re.compile(
    r"\b(?:patient|pt|dose|dosing|dosage|mg|mcg|mmol|mmhg|units?|tablet|drug|medic|therap|treat|manag|prescri|"
    r"diagnos|symptom|sign|screen|test|lab|level|value|result|target|goal|threshold|cutoff|criteria|risk|score|"
    r"guideline|recommend|indicat|contraindicat|monitor|follow-?up|refer|admi|discharg|ward|icu|clinic|"
    r"statin|ldl|hdl|cholesterol|lipid|triglycer|a1c|hba1c|glucose|glycem|insulin|metformin|diabet|sglt2|glp-?1|"
    r"blood pressure|bp|hypertens|hypotens|systolic|diastolic|heart|cardi|coronary|ascvd|stroke|atrial|"
    r"kidney|renal|egfr|ckd|creatinine|albumin|uacr|dialysis|nephro|potassium|sodium|"
    r"vital|pulse|weight|bmi|height|temperature|oxygen|saturation|respirat|asthma|copd|pneumonia|sepsis|infect|"
    r"antibiot|vaccin|immuni|allerg|condition|disease|disorder|syndrome|chronic|acute|pain|fever|cough|"
    r"liver|hepat|cirrho|pancrea|gout|arthritis|osteopor|fracture|bone|thyroid|anemi|bleed|anticoag|warfarin|"
    r"aspirin|clopidogrel|heparin|lipoprotein|lp\(a\)|apob|sequestrant|fibrat|ezetimib|pcsk9|niacin|dosed|pregnan|postpartum|depress|anxiety|alcohol|smok|tobacco|obes|diet|exercise|"
    r"lifestyle|surgery|surgical|operat|procedure|imaging|ct|mri|ecg|ekg|echo|x-?ray|encounter|visit|history|"
    r"trend|latest|last|recent|chang|her|his|she|he|they|mmol|mg/dl|adverse|side effect|interaction|elderly|older adult|"
    r"child|pediatric|neonat|infant|women|men|adult|population|evidence|class|grade|level of evidence|trial|"
    r"hyper|hypo|emia|itis|osis|pathy|ectomy|inject|infus|prophyla|malaria|crisis|plasma|transfus|degenerat|"
    r"reconstruct|rehab|graft|tear|sprain|wound|burn|bite|sting|rash|lesion|tumou?r|cancer|oncolog|chemo|"
    r"radiat|biopsy|ulcer|migraine|seizure|epilep|parkinson|dementia|delirium|psych|schizo|bipolar|adhd|autism|"
    r"ophthalm|retina|macula|glaucoma|cataract|hearing|vertigo|dermat|eczema|psoria|acne|urolog|prostat|"
    r"gyn|obstet|contracept|fertil|ovulat|menopaus|hormone|steroid|vaccine|antiviral|antifung|antivenom|"
    r"toxic|overdose|antidote|nutrition|vitamin|supplement|\w+(?:mab|nib|pril|olol|sartan|statin|cillin|"
    r"mycin|cycline|floxacin|azole|vir|parin|xaban|gliptin|gliflozin|glutide|pam|lam|tidine|prazole|dronate|"
    r"lukast|terol|sone|olone|caine|fen|profen))",
    re.I,
)


def _decoded_blobs(text: str) -> list[str]:
    out = []
    for blob in _B64.findall(text):
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
        if decoded.isprintable():
            out.append(decoded)
    return out


def canonical(text: str) -> str:
    """``text`` as it reads: compatibility forms (NFKC), zero-width characters removed, and Cyrillic
    or Greek look-alikes folded to the Latin letters they imitate."""
    return unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH).translate(_CONFUSABLES)


def normalize(text: str) -> str:
    """Text with common obfuscations undone: zero-width characters, compatibility forms, look-alike
    letters, spaced or leet-speak letters, base64 payloads (appended decoded)."""
    text = canonical(text)
    despaced = re.sub(r"\b(?:\w[ ._-]){4,}\w\b", lambda m: re.sub(r"[ ._-]", "", m.group(0)), text)
    variants = [text, despaced, despaced.translate(_LEET), *_decoded_blobs(text)]
    return "\n".join(dict.fromkeys(variants))
