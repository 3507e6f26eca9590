"""Real memegen templates with captions we write, shared by the OCR tests and bench/meme.py."""

from __future__ import annotations

CAPTIONED = {
    "ackbar": ("", "it's a trap!"),
    "ants": ("do you want ants?", "because that's how you get ants"),
    "bender": ("i'm going to build my own theme park", "with blackjack and hookers"),
    "fry": ("not sure if trolling", "or just stupid"),
    "gandalf": ("you shall not pass", "the code review"),
    "interesting": ("i don't always test my code", "but when i do i do it in production"),
    "keanu": ("what if meme text", "is just pixels"),
    "kermit": ("but that's none", "of my business"),
    "mordor": ("one does not simply", "walk into mordor"),
    "philosoraptor": ("if a meme has no text", "is it still a meme"),
    "blb": ("buys a new laptop", "compiles hello world"),
    "rollsafe": ("can't lose tests", "if you never write them"),
}
