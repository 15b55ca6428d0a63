"""The launch article, verbatim from ../shared/seed/launch-page.txt, and a few more stories."""

from __future__ import annotations

LAUNCH_SLUG = "coalition-admission-civilian-deaths-iraq-syria"
LAUNCH_TITLE = (
    "Despite U.S.-Led Coalition Admission of 1,300 Civilian Deaths in Iraq and Syria, "
    "West Still in Denial of True Scale of Carnage"
)
LAUNCH_CREDIT = "Raqqa city | Mahmoud Bali"

LAUNCH_BODY = """\
The US-led Coalition has publicly admitted for the first time that at least 1,302 civilians were killed by Coalition strikes in Syria and Iraq between August 2014 and the end of April 2019. Despite this admission, there is still widespread denial over the true scale of the carnage inflicted on the two countries by Coalition forces.

An investigation by Amnesty International launched last month revealed that 1,302 is nowhere near the true scale of those killed, with more than 1,600 civilians being killed in Raqqa offensive alone in 2017 alongside the destruction of 11,000 buildings. Amnesty has accused the US-led coalition of “inaccurate” and “indiscriminate” bombing.

Amnesty International’s Senior Crisis Response Adviser Donatella Rovera say that “while all admissions of responsibility by the U.S.-led Coalition for civilian casualties are welcome, the Coalition remains deeply in denial about the devastating scale of the civilian casualties caused by their operations in both Iraq and Syria.”

Amnesty has built a database of over 1,600 civilian victims and “have gathered names for more than 1,000” of those individuals, directly verifying 641 of them and having strong multiple source reports for the rest.

> “One US military official boasted about firing 30,000 artillery rounds during the campaign – the equivalent of a strike every six minutes, for four months straight – surpassing the amount of artillery used in any conflict since the Vietnam war.”
>
> — Amnesty International

In just one hideous example highlighted by Amnesty, an airstrike on a five-story building in the Harat al-Badu neighbourhood on September 25, 2017, resulted in the death of 32 civilians, including 20 children. A week later a nearby building was struck killing 27 more civilians.

> “I saw my son die, burnt in the rubble in front of me. I’ve lost everyone who was dear to me. My four children, my husband, my mother, my sister, my whole family. Wasn’t the goal to free the civilians? They were supposed to save us, to save our children.”
>
> — Ayat Mohammed Jasem

Many of the cases highlighted by the new Amnesty report unquestionably are violations of international law and Amnesty is “urging US-led Coalition members to put in place an independent, impartial mechanism to effectively and promptly investigate reports of civilian harm, including violations of international humanitarian law, and make the findings public.”

> “The Coalition has so far failed to carry out investigations on the ground or provide reasons for the civilian casualties. Without a clear examination of what went wrong in each case lessons can never be learned.”
>
> — Donatella Rovera, Senior Crisis Response Adviser

More information on the true scale of events in Syria and Iraq can be found on Amnesty International’s website:
"""

LAUNCH_LINKS = [
    (
        "Rhetoric versus Reality: How the ‘most precise air campaign in history’ left Raqqa the most "
        "destroyed city in modern times",
        "https://raqqa.amnesty.org/",
    ),
    (
        "‘War of annihilation’: Devastating Toll on Civilians, Raqqa – Syria,",
        "https://www.amnesty.org/en/documents/mde24/8367/2018/en/",
    ),
    (
        "At Any Cost: The Civilian Catastrophe in West Mosul, Iraq",
        "https://www.amnesty.org/en/documents/mde14/6610/2017/en/",
    ),
    (
        "Iraq: Civilians killed by airstrikes in their homes after they were told not to flee Mosul",
        "https://www.amnesty.org/en/latest/news/2017/03/iraq-civilians-killed-by-airstrikes-in-their-homes-"
        "after-they-were-told-not-to-flee-mosul/",
    ),
]

# (slug, title, standfirst, body, tags, sensitive, days ago)
MORE_ARTICLES = [
    (
        "nurses-strike-for-fair-pay",
        "Nurses walk out as pay talks collapse for a third time",
        "Picket lines formed outside hospitals across England at dawn.",
        "Thousands of nurses walked out this morning after talks with the government collapsed for a "
        "third time.\n\nUnion representatives said members had been left with no choice.\n\n"
        "> “We are not asking for charity. We are asking to be able to pay our rent.”\n>\n"
        "> — A ward sister at a London picket line\n",
        ["workers-rights", "nhs"],
        False,
        2,
    ),
    (
        "tenants-union-wins-repairs",
        "Tenants' union wins repairs after rent strike",
        "A year of organising ended with a landlord signing an agreement on every demand.",
        "Residents of a Manchester estate have won a full programme of repairs after a year-long "
        "campaign.\n\nThe agreement covers damp, heating and the lifts that have been broken since "
        "spring.\n",
        ["housing", "workers-rights"],
        False,
        5,
    ),
    (
        "climate-march-london",
        "Tens of thousands march for climate justice in London",
        "Organisers called it the largest climate protest in the capital for five years.",
        "Marchers filled Whitehall on Saturday calling for an end to new oil and gas licences.\n\n"
        "Speakers from trade unions and community groups joined campaigners on the stage.\n",
        ["climate", "protest"],
        False,
        9,
    ),
    (
        "flood-victims-left-waiting",
        "Families flooded out of their homes still waiting for help",
        "Three months on, dozens of households are living in temporary accommodation.",
        "Families whose homes were flooded in the autumn say they are still waiting for the support "
        "they were promised.\n\nThe council says it is working through claims as quickly as it can.\n",
        ["housing"],
        True,
        14,
    ),
]
