"""Running simulated dialogues: the system and the simulated user take turns.

All live dialogues of a batch advance together: each round, every dialogue makes the move
its state machine names (logic.next_move), one call per role for all of them. A user
reply that repeats the written need verbatim, or that speaks as the assistant, is a
failure row with the raw text, and its dialogue stops there.
"""

from __future__ import annotations

from typing import Any

from datagen.llm import ChatRequest, Completion, Message
from datagen.steps import Answer, Ask, CheckFailed, StepKit, live

from .logic import (
    VERDICTS,
    Dialogue,
    Move,
    QuestionPool,
    Turn,
    breaks_role,
    leaks_need,
    longest_shared_run,
    next_move,
    pick_question,
    words,
)
from .options import DialoguesOptions
from .prompts import SYSTEM_ANSWER, SYSTEM_CLARIFY, user_clarifying_answer, user_feedback
from .request_schemas import feedback_schema, reply_schema


def converse(kit: StepKit, options: DialoguesOptions, dialogues: list[Dialogue],
             pool: QuestionPool | None) -> None:
    """Advance every dialogue until each is done or failed."""
    for _ in range(max_moves(options)):
        moves: dict[Move, list[Dialogue]] = {}
        for dialogue in live(dialogues):
            moves.setdefault(next_move(dialogue, options.max_feedback_rounds), []).append(dialogue)
        if set(moves) <= {Move.DONE}:
            return
        system_clarify(kit, options, moves.get(Move.CLARIFY, []), pool)
        system_answer(kit, options, moves.get(Move.ANSWER, []))
        user_clarify(kit, options, moves.get(Move.USER_CLARIFY, []))
        user_give_feedback(kit, options, moves.get(Move.USER_FEEDBACK, []))


def max_moves(options: DialoguesOptions) -> int:
    return 2 * (options.clarifying_questions + options.max_feedback_rounds) + 1


def _as_messages(system: str, turns: list[Turn]) -> tuple[Message, ...]:
    role = {"user": "user", "system": "assistant"}
    return (Message("system", system),
            *(Message(role[t.participant], t.utterance) for t in turns))


def _system_request(options: DialoguesOptions, dialogue: Dialogue, kind: str) -> ChatRequest:
    system = SYSTEM_CLARIFY if kind == "clarifying_question" else SYSTEM_ANSWER
    return ChatRequest(
        messages=_as_messages(system, dialogue.turns), step=kind,
        max_tokens=getattr(options.max_tokens, kind),
        temperature=options.system_temperature, seed=options.seed,
        sample_index=len(dialogue.turns),
    )


def _free_text(kit: StepKit, options: DialoguesOptions, dialogues: list[Dialogue],
               kind: str) -> None:
    asks = [Ask("system", _system_request(options, d, kind), d.input_id) for d in dialogues]
    for dialogue, ask, completion in zip(dialogues, asks, kit.complete(asks), strict=True):
        reason = _bad_system_text(completion)
        if reason:
            _fail(kit, dialogue, kit.failure(ask, completion, reason))
        else:
            dialogue.add(Turn("system", completion.text.strip(), kind))


def _bad_system_text(completion: Completion) -> str:
    if completion.error is not None:
        return completion.error
    return "" if completion.text.strip() else "the system's turn is empty"


def system_answer(kit: StepKit, options: DialoguesOptions, dialogues: list[Dialogue]) -> None:
    _free_text(kit, options, dialogues, "answer")


def system_clarify(kit: StepKit, options: DialoguesOptions, dialogues: list[Dialogue],
                   pool: QuestionPool | None) -> None:
    if pool is None:
        _free_text(kit, options, dialogues, "clarifying_question")
        return
    for dialogue in dialogues:
        said = " ".join(t.utterance for t in dialogue.turns if t.participant == "user")
        asked = [t.utterance for t in dialogue.turns if t.type == "clarifying_question"]
        question = pick_question(said, pool, dialogue.input_id, options.seed, asked)
        dialogue.add(Turn("system", question, "clarifying_question"))


def _user_request(options: DialoguesOptions, prompt: str, kind: str, schema: dict[str, Any],
                  dialogue: Dialogue) -> ChatRequest:
    return ChatRequest.chat(
        prompt, step=kind, json_schema=schema, max_tokens=getattr(options.max_tokens, kind),
        temperature=options.user_temperature, seed=options.seed,
        sample_index=len(dialogue.turns),
    )


def user_clarify(kit: StepKit, options: DialoguesOptions, dialogues: list[Dialogue]) -> None:
    kind, schema = "clarifying_answer", reply_schema(options.max_tokens.clarifying_answer)
    asks = [Ask("user", _user_request(options, user_clarifying_answer(d.need, d.turns), kind,
                                      schema, d), d.input_id) for d in dialogues]
    by_id = {d.input_id: d for d in dialogues}

    def check(ask: Ask, data: Any) -> Any:
        reply = _in_role(data.get("reply"))
        need = by_id[ask.input_id].need
        if leaks_need(need, reply, options.leak_threshold, options.leak_min_words):
            run, total = longest_shared_run(need, reply), len(words(need))
            raise CheckFailed(f"the simulated user repeated its information need verbatim"
                              f" ({run} of its {total} words in a row)")
        return data

    _user_turns(kit, dialogues, asks, check, kind)


def user_give_feedback(kit: StepKit, options: DialoguesOptions,
                       dialogues: list[Dialogue]) -> None:
    kind, schema = "feedback", feedback_schema(options.max_tokens.feedback)
    asks = [Ask("user", _user_request(options, user_feedback(d.need, d.turns), kind, schema, d),
                d.input_id) for d in dialogues]

    def check(ask: Ask, data: Any) -> Any:
        _in_role(data.get("reply"))
        if data.get("verdict") not in VERDICTS:
            raise CheckFailed(f"verdict {data.get('verdict')!r} is not one of {VERDICTS}")
        return data

    _user_turns(kit, dialogues, asks, check, kind)


def _in_role(reply: Any) -> str:
    if not isinstance(reply, str) or not reply.strip():
        raise CheckFailed("the simulated user's reply is empty")
    reason = breaks_role(reply)
    if reason:
        raise CheckFailed(reason)
    return reply.strip()


def _user_turns(kit: StepKit, dialogues: list[Dialogue], asks: list[Ask], check: Any,
                kind: str) -> None:
    """Ask the user, then add its turns; a rejected reply fails its dialogue."""
    start = len(kit.out.failures)
    answers: list[Answer | None] = kit.structured(asks, check=check)
    new_failures = iter(kit.out.failures[start:])
    for dialogue, answer in zip(dialogues, answers, strict=True):
        if answer is None:
            dialogue.failed = True
            next(new_failures).detail["turns"] = [t.as_dict() for t in dialogue.turns]
            continue
        verdict = str(answer.data.get("verdict", ""))
        dialogue.add(Turn("user", answer.data["reply"].strip(), kind, verdict))


def _fail(kit: StepKit, dialogue: Dialogue, failure: Any) -> None:
    failure.detail["turns"] = [t.as_dict() for t in dialogue.turns]
    kit.out.failures.append(failure)
    dialogue.failed = True
