"""Comment phrase banks for the demo: themes in English and Dutch, with fillers that vary the text.

Two themes follow the planted causes of churn (late delivery, failed login); the others are the
background every webshop hears (price, product quality) and the praise promoters write. A comment
is one or two theme sentences, sometimes framed by an opening and a closing remark that carry no
theme. Slots such as ``{days}`` are filled from small word lists so that the same sentence comes
in several forms. No names or other personal data appear anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Theme:
    name: str
    trigger: str | None  # the planted cause (touchpoint) the theme follows, or None
    sentiment: str  # "negative" | "positive"
    label: dict[str, str]
    phrases: dict[str, tuple[str, ...]]


SLOTS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "days": ("two days", "three days", "four days", "five days", "almost a week", "a week"),
        "dur": ("two days", "three days", "a whole weekend", "more than a day"),
        "times": ("three times", "five times", "all evening", "again and again"),
        "item": ("my order", "the parcel", "my box", "the package"),
    },
    "nl": {
        "days": (
            "twee dagen",
            "drie dagen",
            "vier dagen",
            "vijf dagen",
            "bijna een week",
            "een week",
        ),
        "dur": ("twee dagen", "drie dagen", "een heel weekend", "meer dan een dag"),
        "times": ("drie keer", "vijf keer", "de hele avond", "keer op keer"),
        "item": ("mijn bestelling", "het pakket", "mijn box", "de zending"),
    },
}

THEMES: tuple[Theme, ...] = (
    Theme(
        "late_delivery",
        "delivery_late",
        "negative",
        {"en": "Late delivery", "nl": "Te late levering"},
        {
            "en": (
                "My parcel arrived {days} late.",
                "Delivery was late again.",
                "The package came {days} after the promised date.",
                "I waited {days} longer than promised for {item}.",
                "Late delivery, and nobody told me why.",
                "The delivery was delayed without any notice.",
                "Track and trace said today, it came {days} later.",
                "Second time in a row my box was late.",
                "Only delivered {days} later, the courier never showed up on the day.",
                "I stayed home for nothing, {item} came {days} late.",
                "It was supposed to arrive on Friday but came {days} late.",
                "Shipping took far too long this time.",
                "Deliveries keep getting delayed, very frustrating.",
                "{Item} was late and the tracking was not updated.",
                "Late again. I expected it {days} earlier.",
                "The courier was late and left the box with the neighbours.",
                "Always waiting for the delivery, it never arrives on time.",
                "The promised delivery date was missed by {days}.",
            ),
            "nl": (
                "Mijn pakket kwam {days} te laat.",
                "De levering was weer te laat.",
                "Het pakket kwam {days} na de beloofde datum.",
                "Ik heb {days} langer op {item} moeten wachten dan beloofd.",
                "Te late levering en niemand legde uit waarom.",
                "De bezorging was vertraagd zonder bericht.",
                "Volgens track en trace zou het vandaag komen, het kwam {days} later.",
                "Voor de tweede keer op rij was mijn box te laat.",
                "Pas {days} later bezorgd, de bezorger kwam niet op de afgesproken dag.",
                "Ik ben voor niets thuisgebleven, {item} kwam {days} te laat.",
                "Het zou vrijdag komen, maar het kwam {days} te laat.",
                "De verzending duurde deze keer veel te lang.",
                "Steeds weer vertraging bij de bezorging, erg frustrerend.",
                "{Item} was te laat en de track en trace werd niet bijgewerkt.",
                "Weer te laat. Ik had het {days} eerder verwacht.",
                "De bezorger was laat en liet de doos bij de buren achter.",
                "Altijd maar wachten op de bezorging, het komt nooit op tijd.",
                "De beloofde leverdatum werd met {days} gemist.",
            ),
        },
    ),
    Theme(
        "login_problem",
        "login_failed",
        "negative",
        {"en": "Cannot log in", "nl": "Kan niet inloggen"},
        {
            "en": (
                "I could not log in to my account.",
                "The password reset email never arrived.",
                "Logging in fails every time I try.",
                "I was locked out of my account for {dur}.",
                "The login page keeps giving an error.",
                "Password reset never arrived, so I could not change my subscription.",
                "I had to call because I couldn't sign in.",
                "The app logs me out and then I can't get back in.",
                "The verification code never came, so no access to my account.",
                "Could not log in to pause my subscription.",
                "My account was blocked after one wrong password.",
                "Signing in is a nightmare, the reset link has expired every time.",
                "I tried to log in {times} and it failed.",
                "Logging in with my email address does not work anymore.",
                "Could not get into my account to change my address.",
                "Login problems again, very annoying.",
            ),
            "nl": (
                "Ik kon niet inloggen op mijn account.",
                "De e-mail om mijn wachtwoord te resetten kwam nooit aan.",
                "Inloggen mislukt elke keer.",
                "Ik kon {dur} niet bij mijn account.",
                "De inlogpagina geeft steeds een foutmelding.",
                "De wachtwoordreset kwam nooit aan, dus ik kon mijn abonnement niet wijzigen.",
                "Ik moest bellen omdat ik niet kon inloggen.",
                "De app logt me uit en daarna kom ik er niet meer in.",
                "De verificatiecode kwam nooit, dus geen toegang tot mijn account.",
                "Kon niet inloggen om mijn abonnement te pauzeren.",
                "Mijn account werd geblokkeerd na één verkeerd wachtwoord.",
                "Inloggen is een drama, de resetlink is steeds verlopen.",
                "Ik heb {times} geprobeerd in te loggen en het lukte niet.",
                "Inloggen met mijn e-mailadres werkt niet meer.",
                "Kon niet in mijn account komen om mijn adres te wijzigen.",
                "Weer problemen met inloggen, erg vervelend.",
            ),
        },
    ),
    Theme(
        "price",
        None,
        "negative",
        {"en": "Price", "nl": "Prijs"},
        {
            "en": (
                "It is getting too expensive for what you get.",
                "The price went up again.",
                "Shipping costs are too high.",
                "Cheaper alternatives are available elsewhere.",
                "The subscription costs more than I expected.",
                "I think the monthly fee is too high.",
                "Price increase without a clear explanation.",
                "Good, but the price is a bit steep.",
                "Other shops offer the same for less money.",
                "Too expensive compared to last year.",
                "The discount for subscribers is too small.",
                "I pay a lot for a fairly basic service.",
                "Value for money could be better.",
                "The extra costs at checkout surprised me.",
                "Please lower the price of the subscription.",
                "Nice products, but too pricey for me.",
            ),
            "nl": (
                "Het wordt te duur voor wat je krijgt.",
                "De prijs is weer omhoog gegaan.",
                "De verzendkosten zijn te hoog.",
                "Elders zijn goedkopere alternatieven.",
                "Het abonnement kost meer dan ik had verwacht.",
                "Ik vind het maandbedrag te hoog.",
                "Prijsverhoging zonder duidelijke uitleg.",
                "Goed, maar de prijs is aan de hoge kant.",
                "Andere winkels bieden hetzelfde voor minder geld.",
                "Te duur vergeleken met vorig jaar.",
                "De korting voor abonnees is te klein.",
                "Ik betaal veel voor een vrij eenvoudige dienst.",
                "De prijs-kwaliteitverhouding kan beter.",
                "De extra kosten bij het afrekenen vielen me tegen.",
                "Graag de prijs van het abonnement verlagen.",
                "Mooie producten, maar te prijzig voor mij.",
            ),
        },
    ),
    Theme(
        "product_quality",
        None,
        "negative",
        {"en": "Product quality", "nl": "Productkwaliteit"},
        {
            "en": (
                "The product broke after a week.",
                "Quality has gone down lately.",
                "One item was damaged in the box.",
                "The product did not match the description.",
                "The material feels cheap.",
                "Something was missing from {item}.",
                "The colour was different from the photos.",
                "Received a faulty item.",
                "The size was wrong, again.",
                "Not the quality I expect from this brand.",
                "The product stopped working after a few days.",
                "Items arrive scratched.",
                "The packaging was fine but the product itself was poor.",
                "I had to return two items because they were defective.",
                "The quality varies from month to month.",
                "Smaller than shown on the website.",
            ),
            "nl": (
                "Het product ging na een week kapot.",
                "De kwaliteit is de laatste tijd achteruitgegaan.",
                "Er zat een beschadigd artikel in de doos.",
                "Het product klopte niet met de beschrijving.",
                "Het materiaal voelt goedkoop aan.",
                "Er ontbrak iets in {item}.",
                "De kleur was anders dan op de foto's.",
                "Ik kreeg een defect artikel.",
                "De maat klopte weer niet.",
                "Niet de kwaliteit die ik van dit merk verwacht.",
                "Het product werkte na een paar dagen niet meer.",
                "Artikelen komen met krassen aan.",
                "De verpakking was prima, maar het product zelf viel tegen.",
                "Ik moest twee artikelen terugsturen omdat ze defect waren.",
                "De kwaliteit wisselt van maand tot maand.",
                "Kleiner dan op de website te zien was.",
            ),
        },
    ),
    Theme(
        "friendly_service",
        None,
        "positive",
        {"en": "Friendly service", "nl": "Vriendelijke service"},
        {
            "en": (
                "The customer service was very friendly.",
                "The staff on the phone were really helpful.",
                "My question was answered quickly and kindly.",
                "Great service, they solved my problem right away.",
                "Friendly people at the helpdesk.",
                "The employee took the time to help me.",
                "Very polite and patient support.",
                "They called me back as promised.",
                "Service with a smile, even on the phone.",
                "Excellent help from the support team.",
                "Quick and friendly answer to my email.",
                "The helpdesk really listens.",
                "Kind staff who know what they are talking about.",
                "I felt taken seriously by customer service.",
                "Support sorted everything out in one call.",
                "Very personal and warm service.",
            ),
            "nl": (
                "De klantenservice was heel vriendelijk.",
                "De medewerker aan de telefoon was echt behulpzaam.",
                "Mijn vraag werd snel en vriendelijk beantwoord.",
                "Top service, ze losten mijn probleem meteen op.",
                "Vriendelijke mensen bij de helpdesk.",
                "De medewerker nam de tijd om me te helpen.",
                "Heel beleefde en geduldige ondersteuning.",
                "Ze belden me terug zoals beloofd.",
                "Service met een glimlach, zelfs aan de telefoon.",
                "Uitstekende hulp van het supportteam.",
                "Snel en vriendelijk antwoord op mijn mail.",
                "De helpdesk luistert echt.",
                "Aardige medewerkers die weten waar ze het over hebben.",
                "Ik voelde me serieus genomen door de klantenservice.",
                "De klantenservice regelde alles in één gesprek.",
                "Heel persoonlijke en warme service.",
            ),
        },
    ),
    Theme(
        "fast_delivery",
        None,
        "positive",
        {"en": "Fast delivery", "nl": "Snelle levering"},
        {
            "en": (
                "Delivered the next day, great.",
                "Fast delivery as always.",
                "{Item} arrived earlier than expected.",
                "Quick shipping and well packed.",
                "The parcel was on my doorstep within a day.",
                "Delivered right on time.",
                "Super fast, ordered in the evening and received it the next morning.",
                "The courier came exactly in the announced time slot.",
                "Always delivered on time.",
                "Speedy delivery, no complaints.",
                "Arrived quickly and in perfect condition.",
                "The box always arrives on the promised day.",
                "Nice that the delivery is so punctual.",
                "Fast and reliable shipping.",
                "Received {item} sooner than promised.",
                "Track and trace was accurate and the parcel came on time.",
            ),
            "nl": (
                "De volgende dag al bezorgd, top.",
                "Snelle levering zoals altijd.",
                "{Item} kwam eerder dan verwacht.",
                "Snel verzonden en goed verpakt.",
                "Het pakket lag binnen een dag op de stoep.",
                "Precies op tijd geleverd.",
                "Supersnel, 's avonds besteld en de volgende ochtend in huis.",
                "De bezorger kwam precies in het aangekondigde tijdvak.",
                "Altijd op tijd bezorgd.",
                "Vlotte levering, geen klachten.",
                "Snel en in perfecte staat aangekomen.",
                "De box komt altijd op de beloofde dag.",
                "Fijn dat de bezorging zo stipt is.",
                "Snelle en betrouwbare verzending.",
                "Ik had {item} sneller dan beloofd.",
                "De track en trace klopte en het pakket kwam op tijd.",
            ),
        },
    ),
    Theme(
        "product_praise",
        None,
        "positive",
        {"en": "Great products", "nl": "Goede producten"},
        {
            "en": (
                "Great products, I love them.",
                "The quality is excellent.",
                "Really happy with what I ordered.",
                "Beautiful items, exactly as pictured.",
                "The best shop for this kind of product.",
                "Every box is a nice surprise.",
                "Good quality that lasts.",
                "Lovely products, my family enjoys them.",
                "Everything I ordered was top notch.",
                "The range keeps getting better.",
                "Sturdy and well made.",
                "Exactly what I was looking for.",
                "I recommend this shop to everyone.",
                "Very pleased with the new collection.",
                "The products feel premium.",
                "Always good stuff in the box.",
            ),
            "nl": (
                "Geweldige producten, ik ben er blij mee.",
                "De kwaliteit is uitstekend.",
                "Heel tevreden met wat ik bestelde.",
                "Mooie artikelen, precies zoals op de foto.",
                "De beste winkel voor dit soort producten.",
                "Elke box is een leuke verrassing.",
                "Goede kwaliteit die lang meegaat.",
                "Fijne producten, mijn gezin geniet ervan.",
                "Alles wat ik bestelde was top.",
                "Het assortiment wordt steeds beter.",
                "Stevig en goed gemaakt.",
                "Precies wat ik zocht.",
                "Ik raad deze winkel iedereen aan.",
                "Erg blij met de nieuwe collectie.",
                "De producten voelen luxe aan.",
                "Altijd goede spullen in de box.",
            ),
        },
    ),
)
THEME_NAMES: tuple[str, ...] = tuple(t.name for t in THEMES)
THEME_CODE: dict[str, int] = {name: i for i, name in enumerate(THEME_NAMES)}

# Framing remarks without a theme, by sentiment of the answer.
OPENERS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "negative": ("Disappointing.", "Not happy.", "Hmm.", "Honestly?", "Sorry to say:"),
        "positive": ("Well done!", "Very happy.", "Thanks!", "Honestly?", "In short:"),
    },
    "nl": {
        "negative": ("Jammer.", "Niet tevreden.", "Hmm.", "Eerlijk gezegd:", "Helaas:"),
        "positive": ("Goed gedaan!", "Heel tevreden.", "Bedankt!", "Eerlijk gezegd:", "Kortom:"),
    },
}
CLOSERS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "negative": (
            "Please fix this.",
            "Not what I expect from you.",
            "This has to improve.",
            "Very disappointing.",
            "Really annoying.",
            "I am thinking about cancelling.",
        ),
        "neutral": ("Otherwise fine.", "For the rest okay.", "Apart from that it's good."),
        "positive": ("Keep it up!", "Thank you!", "Will order again.", "Highly recommended."),
    },
    "nl": {
        "negative": (
            "Graag verbeteren.",
            "Niet wat ik van jullie verwacht.",
            "Dit moet beter.",
            "Erg teleurstellend.",
            "Echt vervelend.",
            "Ik denk erover op te zeggen.",
        ),
        "neutral": ("Verder prima.", "Voor de rest oké.", "Verder is het goed."),
        "positive": (
            "Ga zo door!",
            "Dank jullie wel!",
            "Ik bestel zeker weer.",
            "Echt een aanrader.",
        ),
    },
}

TONE_NEGATIVE, TONE_NEUTRAL, TONE_POSITIVE = 0, 1, 2
_TONE_NAMES = ("negative", "neutral", "positive")


def _fill(template: str, lang: str, picks: np.ndarray) -> str:
    """Fill the ``{slot}`` (or capitalised ``{Slot}``) placeholders of one sentence."""
    if "{" not in template:
        return template
    values = {}
    for i, (slot, words) in enumerate(SLOTS[lang].items()):
        word = words[picks[i] % len(words)]
        values[slot] = word
        values[slot.capitalize()] = word[:1].upper() + word[1:]
    return template.format(**values)


def render_comments(
    rng: np.random.Generator,
    themes: np.ndarray,
    second_themes: np.ndarray,
    languages: np.ndarray,
    tones: np.ndarray,
) -> list[str]:
    """One comment per row: theme codes (second = -1 for none), language codes, tone codes."""
    n = len(themes)
    pick = rng.integers(0, 1 << 30, size=(n, 8))
    use_opener = rng.random(n) < 0.25
    use_closer = rng.random(n) < 0.35
    out: list[str] = []
    for i in range(n):
        lang = "nl" if languages[i] == 1 else "en"
        theme = THEMES[themes[i]]
        tone = _TONE_NAMES[tones[i]]
        phrases = theme.phrases[lang]
        parts = []
        if use_opener[i]:
            openers = OPENERS[lang]["positive" if tone == "positive" else "negative"]
            parts.append(openers[pick[i, 0] % len(openers)])
        parts.append(_fill(phrases[pick[i, 1] % len(phrases)], lang, pick[i, 4:8]))
        if second_themes[i] >= 0:
            second = THEMES[second_themes[i]].phrases[lang]
            parts.append(_fill(second[pick[i, 2] % len(second)], lang, pick[i, 4:8] + 1))
        if use_closer[i]:
            closers = CLOSERS[lang][tone]
            parts.append(closers[pick[i, 3] % len(closers)])
        out.append(" ".join(parts))
    return out
