"""Proposing seed entries from a news article (`pledgewatch extract`), for a person to review.

`text` reads the article (plain text or HTML) and refuses what is not English
prose; `sentences` splits it; `cues` and `deadline` find the words that make
an undertaking, its condition, frequency and deadline; `phrasing` words the
parties, title and id; `proposals` puts them together; `writing` writes the
seed document `pledgewatch import` reads, and `--merge` leaves out what a
seed file already holds. Pure: the command (daemon/cli/extract.py) does the I/O.
"""
