"""The words of every request C3PO sends, as plain functions (written for this project)."""

from __future__ import annotations


def describe(feedback: str) -> str:
    return (
        "A user gave an assistant this feedback:\n"
        f'"{feedback}"\n\n'
        "Say where the feedback applies and what it changes. Answer in JSON with two fields:\n"
        '- "domain": the kind of requests it is about, as a short phrase '
        '(for example "writing emails to a manager")\n'
        '- "effect": how a response should change in that domain, as one short sentence'
    )


def categories(feedback: str, domain: str, count: int) -> str:
    return (
        f'Feedback for an assistant: "{feedback}"\n'
        f"It applies to: {domain}\n\n"
        f"List {count} different categories of user requests that are a little broader than "
        "that domain: each category should hold some requests where the feedback applies and "
        "some where it clearly does not. Use a short name for each category. "
        'Answer in JSON: {"categories": ["...", ...]}'
    )


def in_scope_prompts(domain: str, category: str, count: int) -> str:
    return (
        f"Write {count} different requests a user might send to an assistant. Every request "
        f'belongs to the category "{category}" and is clearly about: {domain}.\n'
        "Each request must stand on its own (no missing attachments or earlier context) and "
        "vary in topic and length. "
        'Answer in JSON: {"prompts": ["...", ...]}'
    )


def near_scope_prompts(domain: str, category: str, count: int) -> str:
    return (
        f"Write {count} different requests a user might send to an assistant. Every request "
        f'belongs to the category "{category}" but is clearly NOT about: {domain}.\n'
        "Stay close to that topic without entering it. Each request must stand on its own "
        "and vary in topic and length. "
        'Answer in JSON: {"prompts": ["...", ...]}'
    )


def scope_check(feedback: str, domain: str, prompt: str) -> str:
    return (
        f'Feedback: "{feedback}"\n'
        f"It applies only to: {domain}\n\n"
        f"User request:\n{prompt}\n\n"
        "Should an assistant follow this feedback when answering this request? "
        'Answer in JSON: {"applies": "yes"} or {"applies": "no"}'
    )


def revision(feedback: str, effect: str, prompt: str, baseline: str) -> str:
    return (
        f"User request:\n{prompt}\n\n"
        f"Draft response:\n{baseline}\n\n"
        f'Rewrite the draft so that it follows this feedback: "{feedback}" ({effect}). '
        "Keep everything else about the draft the same. Reply with the rewritten response "
        "only."
    )


def in_context_system(feedback: str, domain: str) -> str:
    return f'Follow this feedback when a request is about {domain}, and only then: "{feedback}"'


def judge(feedback: str, domain: str, prompt: str, first: str, second: str) -> str:
    return (
        f'Feedback: "{feedback}" (it is about: {domain})\n\n'
        f"User request:\n{prompt}\n\n"
        f"Response A:\n{first}\n\n"
        f"Response B:\n{second}\n\n"
        "Compare how much each response follows the feedback, whether or not the feedback "
        "fits this request. Score from 1 to 5: 1 = A follows it much more, 2 = A somewhat "
        "more, 3 = both the same, 4 = B somewhat more, 5 = B follows it much more. "
        'Answer in JSON: {"score": N}'
    )
