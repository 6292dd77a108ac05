#!/usr/bin/env python3
"""The size check: no .cpp file under the checked trees (src/ and windows/) over 500 lines, no
function there (in .cpp or header) over 100 lines. A violation fails the build:

    src/cli/serve_run.cpp:40: function run_serve is 142 lines (limit 100)
    src/nbd/connection.cpp:1: file is 690 lines (limit 500)

A function's lines run from the line of its name to the line of its closing brace. The parser is a
heuristic, not a C++ front end: comments, string and character literals (raw strings included)
and preprocessor lines are blanked first, so braces in them do not count; then braces are matched
at namespace and class scope. A brace after a parameter list opens a function body, which runs to
its matching brace: lambdas and local classes inside it count as part of the function. A lambda
that initializes a namespace-scope variable counts as a function named after the variable.

Allowed-list file (--allow), one entry a line, '#' starts a comment; each is a TODO, not a licence:
    function <path> <name>      this function may stay over the limit until it is split
    file <path>                 this file may stay over the limit until it is split
An entry that nothing needs any more is a note, not a failure.
"""
import argparse
import os
import re
import sys

FILE_LIMIT = 500
FUNCTION_LIMIT = 100
FILE_SUFFIXES = (".cpp", ".cc")            # files whose length is limited
FUNCTION_SUFFIXES = (".cpp", ".cc", ".hpp", ".h", ".inc")  # files whose functions are limited

IDENT_START = re.compile(r"[A-Za-z_]")
IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
RAW_PREFIX = re.compile(r"(?:u8|u|U|L)?R$")


def blank(text):
    """The text with comments, literals and preprocessor lines turned into spaces (newlines kept,
    quotes kept), so that offsets and line numbers stay the same."""
    out = list(text)
    n = len(text)
    i = 0
    line_start = True  # only white space since the last newline: a '#' starts a directive

    def clear(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    def quoted(i):
        """Blanks the string or character literal whose quote is at i; returns the offset after it."""
        j = i + 1
        while j < n and text[j] != text[i] and text[j] != "\n":
            j += 2 if text[j] == "\\" else 1
        clear(i + 1, min(j, n))
        return j + 1

    while i < n:
        c = text[i]
        if c == "\n":
            line_start = True
            i += 1
            continue
        if c in " \t\r\f\v":
            i += 1
            continue
        if line_start and c == "#":
            j = i
            while j < n:  # to the end of the line, following backslash continuations
                e = text.find("\n", j)
                if e < 0:
                    j = n
                    break
                if text[j:e].rstrip("\r").endswith("\\"):
                    j = e + 1
                    continue
                j = e
                break
            clear(i, j)
            i = j
            continue
        line_start = False
        if text.startswith("//", i):
            e = text.find("\n", i)
            e = n if e < 0 else e
            clear(i, e)
            i = e
            continue
        if text.startswith("/*", i):
            e = text.find("*/", i + 2)
            e = n if e < 0 else e + 2
            clear(i, e)
            i = e
            continue
        if c == '"':
            # A raw string: R"delim( ... )delim", with an optional encoding prefix.
            word = re.search(r"[A-Za-z_0-9]*$", text[max(0, i - 3):i]).group(0)
            if RAW_PREFIX.search(word) and not (i - len(word) > 0 and
                                                re.match(r"[A-Za-z_0-9]", text[i - len(word) - 1])):
                p = text.find("(", i + 1)
                if p >= 0:
                    delim = text[i + 1:p]
                    e = text.find(")" + delim + '"', p + 1)
                    e = n if e < 0 else e + len(delim) + 2
                    clear(i + 1, e - 1)
                    i = e
                    continue
            i = quoted(i)
            continue
        if c == "'":
            # A digit separator (1'000'000) is not a character literal.
            run = re.search(r"[A-Za-z_0-9.]*$", text[max(0, i - 64):i]).group(0)
            if run and run[0].isdigit():
                i += 1
                continue
            i = quoted(i)
            continue
        if IDENT_START.match(c):
            m = IDENT.match(text, i)
            i = m.end()
            continue
        i += 1
    return "".join(out)


TOKEN = re.compile(r"\s*(::|->|[A-Za-z_][A-Za-z_0-9]*|[0-9][A-Za-z_0-9.']*|\"\s*\"|'\s*'|\S)", re.S)
SCOPE_KEYWORDS = {"namespace", "class", "struct", "union"}
NOT_A_NAME_BEFORE_PARENS = {"noexcept", "throw", "alignas", "decltype", "requires", "__attribute__",
                            "__declspec", "sizeof", "alignof"}
ACCESS = {"public", "private", "protected"}


def matching_brace(clean, i):
    depth = 0
    for k in range(i, len(clean)):
        ch = clean[k]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(clean) - 1


def top_level(tokens):
    """The head's tokens with their nesting depth over (), [] and template angle brackets."""
    depth = 0
    result = []
    prev = None
    angle_stack = []
    for text, off in tokens:
        if text in "([":
            result.append((text, off, depth))
            depth += 1
        elif text in ")]":
            depth = max(0, depth - 1)
            result.append((text, off, depth))
        elif text == "<" and prev is not None and (IDENT.fullmatch(prev) and prev != "operator"):
            result.append((text, off, depth))
            angle_stack.append(depth)
            depth += 1
        elif text == ">" and angle_stack and prev != "-":
            depth = angle_stack.pop()
            result.append((text, off, depth))
        else:
            result.append((text, off, depth))
        prev = text
    return result


def strip_prefixes(toks):
    """Drop `template <...>` and attributes [[...]] from the front of a head."""
    while toks:
        if toks[0][0] == "template" and len(toks) > 1 and toks[1][0] == "<":
            k = 2
            while k < len(toks) and not (toks[k][0] == ">" and toks[k][2] == toks[0][2]):
                k += 1
            toks = toks[k + 1:]
        elif toks[0][0] == "[" and len(toks) > 1 and toks[1][0] == "[":
            k = 1
            while k < len(toks) and not (toks[k][0] == "]" and toks[k][2] == toks[0][2]):
                k += 1
            toks = toks[k + 1:]
        else:
            break
    return toks


def function_name(toks):
    """The declarator's name of a function head: the (qualified) name before its parameter list.
    Returns (name, offset) or None when the head is not a function."""
    groups = [k for k, t in enumerate(toks) if t[0] == "(" and t[2] == 0]
    if not groups:
        return None
    # The parameter list: the last top-level '(' that comes before a ctor's init-list ':' or a
    # trailing '->', and is not noexcept(...) and the like.
    stop = len(toks)
    for k, t in enumerate(toks):
        if t[2] == 0 and t[0] == ":" and k > 0 and any(g < k for g in groups):
            stop = k
            break
        if t[2] == 0 and t[0] == "->":
            stop = k
            break
    candidates = [g for g in groups if g < stop and g > 0 and toks[g - 1][0] not in NOT_A_NAME_BEFORE_PARENS]
    if not candidates:
        return None
    g = candidates[-1]
    k = g - 1
    # operator(), operator==, operator<< ...: the name runs back to `operator`.
    for back in range(g - 1, max(-1, g - 5), -1):
        if toks[back][0] == "operator":
            k = back
            break
    if k == g - 1 and not IDENT.fullmatch(toks[k][0]):
        return None  # `(a)(b)`, `x[1](...)`: not a declarator
    name_start = k
    while name_start >= 2 and toks[name_start - 1][0] == "::":
        name_start -= 2
    if name_start >= 1 and toks[name_start - 1][0] == "~":
        name_start -= 1
    name = ""
    for t in toks[name_start:g]:  # `operator bool` keeps its space
        name += (" " if name and IDENT.fullmatch(t[0]) and IDENT.fullmatch(name[-1]) else "") + t[0]
    if re.fullmatch(r"[A-Z_0-9]+", name):
        # A macro such as TEST_F(Suite, Name) is named with its arguments.
        depth, close = 0, len(toks)
        for j in range(g, len(toks)):
            depth += {"(": 1, ")": -1}.get(toks[j][0], 0)
            if depth == 0:
                close = j
                break
        name += "(" + " ".join(t[0] for t in toks[g + 1:close]).replace(" ,", ",") + ")"
    return name, toks[name_start][1]


def classify(head_tokens):
    """What a '{' after these tokens opens: ('scope', None), ('function', (name, offset)),
    ('member-init', None) or ('data', None)."""
    toks = strip_prefixes(top_level(head_tokens))
    while len(toks) >= 2 and toks[0][0] in ACCESS and toks[1][0] == ":":
        toks = toks[2:]
    words = [t[0] for t in toks]
    if not toks:
        return "scope", None  # a bare block at namespace scope: look inside it
    if words[0] == "extern" and len(words) == 2 and words[1].startswith('"'):
        return "scope", None
    if words[0] == "typedef":
        toks = toks[1:]
        words = words[1:]
    has_parens = any(t[0] == "(" and t[2] == 0 and (k == 0 or toks[k - 1][0] not in
                                                    NOT_A_NAME_BEFORE_PARENS)
                     for k, t in enumerate(toks))
    if words and words[0] == "enum":
        return "data", None
    if words and words[0] in SCOPE_KEYWORDS and not has_parens:
        return "scope", None
    # `name = ...`: an initializer (a lambda in it is a function named after the variable).
    for k, t in enumerate(toks):
        if t[0] == "=" and t[2] == 0 and not (k > 0 and toks[k - 1][0] == "operator"):
            rest = toks[k + 1:]
            if rest and rest[0][0] == "[" and k > 0 and IDENT.fullmatch(toks[k - 1][0]):
                return "function", (toks[k - 1][0], toks[k - 1][1])
            return "data", None
    if not has_parens:
        return "data", None  # a variable's brace initializer: Foo x{...}
    last = toks[-1][0]
    # After a constructor's init-list ':', a '{' that follows a name is that member's initializer.
    in_init_list = any(t[0] == ":" and t[2] == 0 for t in toks)
    if in_init_list and (IDENT.fullmatch(last) or last == ">") and last not in (
            "const", "noexcept", "override", "final", "try"):
        return "member-init", None
    found = function_name(toks)
    if found is None:
        return "data", None
    return "function", found


def functions(clean):
    """(name, offset of the name, offset of the closing brace) of each function body."""
    result = []

    def scope(start, end):
        head = []
        parens = 0  # ( and [ open in the head: a brace inside them is an expression, e.g. `f(T x = {})`
        i = start
        while i < end:
            m = TOKEN.match(clean, i, end)
            if not m or not m.group(1):
                return
            text, off = m.group(1), m.start(1)
            i = m.end()
            if text in "([":
                parens += 1
            elif text in ")]":
                parens = max(0, parens - 1)
            if text == "{" and parens:
                close = matching_brace(clean, off)
                head.append(("{}", off))
                i = close + 1
            elif text == ";":
                head = []
                parens = 0
            elif text == "}":
                head = []
                parens = 0
            elif text == "{":
                kind, found = classify(head)
                close = matching_brace(clean, off)
                if kind == "scope":
                    scope(off + 1, close)
                    head = []
                elif kind == "function":
                    result.append((found[0], found[1], close))
                    head = []
                    parens = 0
                else:  # data or member-init: the declaration goes on after the braces
                    head.append(("{}", off))
                i = close + 1
            elif text in ACCESS and clean[i:end].lstrip().startswith(":") and not head:
                # public: / private: / protected: end a class's previous declaration
                j = clean.index(":", i)
                i = j + 1
            else:
                head.append((text, off))

    scope(0, len(clean))
    return result


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def check_file(path, rel, allowed, used):
    errors = []
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    if path.endswith(FILE_SUFFIXES) and lines > FILE_LIMIT:
        if ("file", rel, None) in allowed:
            used.add(("file", rel, None))
        else:
            errors.append(f"{rel}:1: file is {lines} lines (limit {FILE_LIMIT})")
    if path.endswith(FUNCTION_SUFFIXES):
        clean = blank(text)
        for name, start, close in functions(clean):
            first, last = line_of(clean, start), line_of(clean, close)
            length = last - first + 1
            if length <= FUNCTION_LIMIT:
                continue
            if ("function", rel, name) in allowed:
                used.add(("function", rel, name))
                continue
            errors.append(f"{rel}:{first}: function {name} is {length} lines (limit {FUNCTION_LIMIT})")
    return errors


def read_allowed(path):
    allowed = set()
    if not path:
        return allowed
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if words[0] == "function" and len(words) == 3:
                allowed.add(("function", words[1], words[2]))
            elif words[0] == "file" and len(words) == 2:
                allowed.add(("file", words[1], None))
            else:
                sys.exit(f"{path}:{n}: cannot read this line of the allowed list")
    return allowed


def source_files(root, trees):
    for tree in trees:
        top = os.path.join(root, tree)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(FUNCTION_SUFFIXES):
                    yield os.path.join(dirpath, name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="source tree")
    ap.add_argument("--tree", action="append", help="directory under the root to check "
                    "(repeatable; default: src and windows)")
    ap.add_argument("--allow", help="allowed-list file (see above)")
    ap.add_argument("--stamp", help="file to touch when the check passes")
    ap.add_argument("--list", action="store_true", help="print every function with its length")
    args = ap.parse_args()
    trees = args.tree or ["src", "windows"]
    allowed = read_allowed(args.allow)
    used = set()
    errors = []
    for path in source_files(args.root, trees):
        rel = os.path.relpath(path, args.root).replace(os.sep, "/")
        if args.list:
            with open(path, encoding="utf-8", errors="replace") as f:
                clean = blank(f.read())
            for name, start, close in functions(clean):
                print(f"{line_of(clean, close) - line_of(clean, start) + 1:5} {rel}:{line_of(clean, start)} {name}")
            continue
        errors += check_file(path, rel, allowed, used)
    for entry in sorted(allowed - used, key=lambda e: (e[0], e[1], e[2] or "")):
        if not args.list:
            what = f"function {entry[1]} {entry[2]}" if entry[0] == "function" else f"file {entry[1]}"
            print(f"note: size limits: allowed '{what}' is no longer needed", file=sys.stderr)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        if args.stamp and os.path.exists(args.stamp):
            os.remove(args.stamp)  # a pass recorded earlier no longer holds
        print(f"size limits: {len(errors)} file(s) or function(s) too long: split them by step "
              f"(docs/architecture.md, 'Size limits')", file=sys.stderr)
        return 1
    if args.stamp:
        with open(args.stamp, "w", encoding="utf-8") as f:
            f.write("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
