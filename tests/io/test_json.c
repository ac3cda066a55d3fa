/* The strict JSON reader and the writer of src/io/json.c: valid texts pass, every kind of
 * malformed text fails with a message naming the byte, strings decode and re-encode exactly. */
#include "io/json.h"
#include "iotest.h"

static bool check_text(const char *text, size_t len) {
    attn__jr_t r;
    if (attn__jr_init(&r, text, len) != ATTN_STATUS_OK) return false;
    bool ok = attn__jr_skip(&r) && attn__jr_finish(&r);
    if (!ok) CHECK(strstr(r.why, "at byte ") == r.why, "message does not name the byte: %s",
                   r.why);
    attn__jr_free(&r);
    return ok;
}

static void valid_texts(void) {
    static const char *const ok[] = {
        "{}", "[]", " \t\r\n{ } \n", "0", "-0", "1.5", "-1.25e+10", "1E-3", "12e5", "\"\"",
        "true", "false", "null", "[1,2,[3,[4]],{}]",
        "{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":false,\"e\":-1.5e+10}",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"",
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xed\x9f\xbf \xee\x80\x80\"",
        "{\"a\":1,\"a\":2}", /* duplicates are the caller's business */
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        io_begin("valid text %zu: %s", i, ok[i]);
        CHECK(check_text(ok[i], strlen(ok[i])), "rejected");
    }
}

static void invalid_texts(void) {
    static const char *const bad[] = {
        "", " ", "{", "}", "[", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{\"a\":}",
        "{a:1}", "{'a':1}", "{\"a\":1}}", "{} x", "{}{}", "[,1]", "[1,,2]", "{,}", "01", "-01",
        "1.", ".5", "+1", "-", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity", "tru",
        "nul", "True", "\"abc", "\"\\", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\ud800\"",
        "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\ud800x\"", "\"a\x01\"", "\"\t\"", "\"\n\"",
        "\"\xc0\x80\"", "\"\xc1\xbf\"", "\"\xe0\x80\x80\"", "\"\xed\xa0\x80\"",
        "\"\xf0\x80\x80\x80\"",
        "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"", "\"\xff\"", "\"\x80\"", "\"\xc3\"",
        "\"\xe2\x82\"", "\"\xe2\x28\xa1\"", "\xef\xbb\xbf{}", "/*c*/{}", "{}//", "[1]\x00",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        io_begin("invalid text %zu: %s", i, bad[i]);
        size_t len = strlen(bad[i]);
        if (strcmp(bad[i], "[1]") == 0) len = 4; /* the embedded NUL */
        CHECK(!check_text(bad[i], len), "accepted");
    }
    /* a NUL byte inside a string and outside one */
    io_begin("NUL bytes");
    CHECK(!check_text("\"a\0b\"", 5), "raw NUL in a string accepted");
    CHECK(!check_text("{}\0", 3), "NUL after the value accepted");
}

static void nesting(void) {
    char text[2 * (ATTN__JSON_MAX_DEPTH + 1) + 1];
    for (int depth = ATTN__JSON_MAX_DEPTH; depth <= ATTN__JSON_MAX_DEPTH + 1; depth++) {
        io_begin("nesting %d", depth);
        for (int i = 0; i < depth; i++) {
            text[i] = '[';
            text[2 * depth - 1 - i] = ']';
        }
        bool ok = check_text(text, (size_t)(2 * depth));
        CHECK(ok == (depth <= ATTN__JSON_MAX_DEPTH), "depth %d %s", depth,
              ok ? "accepted" : "rejected");
    }
    io_begin("deep unterminated nesting");
    char deep[100000];
    memset(deep, '[', sizeof deep);
    CHECK(!check_text(deep, sizeof deep), "accepted");
}

static void integers(void) {
    static const struct {
        const char *text;
        bool ok;
        uint64_t value;
        const char *why;
    } cases[] = {
        {"0", true, 0, NULL},
        {"7", true, 7, NULL},
        {"18446744073709551615", true, UINT64_MAX, NULL},
        {"18446744073709551616", false, 0, "does not fit in 64 bits"},
        {"99999999999999999999999", false, 0, "does not fit in 64 bits"},
        {"-1", false, 0, "non-negative"},
        {"-0", false, 0, "non-negative"},
        {"1.0", false, 0, "without fraction or exponent"},
        {"1e2", false, 0, "without fraction or exponent"},
        {"\"1\"", false, 0, "found a string"},
        {"[1]", false, 0, "found an array"},
        {"null", false, 0, "found null"},
        {"x", false, 0, "found 'x'"},
        {"", false, 0, "found the end of the text"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        io_begin("integer %s", cases[i].text);
        attn__jr_t r;
        CHECK_OK(attn__jr_init(&r, cases[i].text, strlen(cases[i].text)));
        uint64_t v = 12345;
        bool ok = attn__jr_uint(&r, &v) && attn__jr_finish(&r);
        CHECK(ok == cases[i].ok, "%s: %s", ok ? "accepted" : "rejected", r.why);
        if (ok && cases[i].ok) CHECK(v == cases[i].value, "read %llu", (unsigned long long)v);
        if (!ok && cases[i].why)
            CHECK(strstr(r.why, cases[i].why) != NULL, "message: %s", r.why);
        attn__jr_free(&r);
    }
}

/* Reading an object member by member, and the reader stays failed after an error. */
static void walking(void) {
    io_begin("walk an object");
    const char *text = " {\"name\" : \"x\\u00e9\", \"dims\": [2, 3], \"skip\": {\"a\": [true]}} ";
    attn__jr_t r;
    CHECK_OK(attn__jr_init(&r, text, strlen(text)));
    attn__json_str_t key, s;
    int members = 0;
    uint64_t dims[4];
    int nd = 0;
    CHECK(attn__jr_begin_object(&r), "%s", r.why);
    while (attn__jr_next_member(&r, &key)) {
        members++;
        if (strcmp(key.s, "name") == 0) {
            CHECK(attn__jr_string(&r, &s), "%s", r.why);
            CHECK(s.len == 3 && memcmp(s.s, "x\xc3\xa9", 4) == 0, "decoded '%s'", s.s);
        } else if (strcmp(key.s, "dims") == 0) {
            CHECK(attn__jr_begin_array(&r), "%s", r.why);
            while (attn__jr_next_element(&r) && nd < 4) attn__jr_uint(&r, &dims[nd++]);
        } else {
            CHECK(attn__jr_skip(&r), "%s", r.why);
        }
    }
    CHECK(attn__jr_finish(&r), "%s", r.why);
    CHECK(members == 3 && nd == 2 && dims[0] == 2 && dims[1] == 3, "members %d dims %d",
          members, nd);
    attn__jr_free(&r);

    io_begin("sticky failure");
    CHECK_OK(attn__jr_init(&r, "[1, x, 2]", 9));
    CHECK(attn__jr_begin_array(&r), "%s", r.why);
    uint64_t v;
    CHECK(attn__jr_next_element(&r) && attn__jr_uint(&r, &v), "%s", r.why);
    CHECK(attn__jr_next_element(&r), "%s", r.why);
    CHECK(!attn__jr_uint(&r, &v), "x read as a number");
    CHECK(strstr(r.why, "at byte 4") != NULL, "message: %s", r.why);
    CHECK(!attn__jr_next_element(&r) && !attn__jr_finish(&r) && r.failed, "recovered");
    CHECK(attn__jr_peek(&r) == ATTN__JSON_NONE, "peek after failure");
    attn__jr_free(&r);

    io_begin("wrong walk");
    CHECK_OK(attn__jr_init(&r, "[1]", 3));
    CHECK(!attn__jr_begin_object(&r) && strstr(r.why, "expected an object, found an array"),
          "message: %s", r.why);
    attn__jr_free(&r);
}

/* Every string of bytes 1..127 and some UTF-8 survives writing and reading back. */
static void writer_round_trip(void) {
    io_begin("writer escapes");
    char all[200];
    size_t n = 0;
    for (int c = 1; c < 128; c++) all[n++] = (char)c;
    const char *utf8 = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    memcpy(all + n, utf8, strlen(utf8));
    n += strlen(utf8);
    CHECK(attn__utf8_valid(all, n), "test string not UTF-8");
    attn__jbuf_t b;
    attn__jbuf_init(&b);
    attn__jbuf_raw(&b, "[", 1);
    attn__jbuf_string(&b, all, n);
    attn__jbuf_raw(&b, ",", 1);
    attn__jbuf_u64(&b, UINT64_MAX);
    attn__jbuf_cstr(&b, ",\"\"]");
    CHECK(!b.oom, "out of memory");
    CHECK(strstr(b.data, "\\u0001") && strstr(b.data, "\\n") && strstr(b.data, "\\\"") &&
              strstr(b.data, "\\\\") && strstr(b.data, "/") && !strstr(b.data, "\\/"),
          "escapes: %s", b.data);
    attn__jr_t r;
    CHECK_OK(attn__jr_init(&r, b.data, b.len));
    attn__json_str_t s, e;
    uint64_t v = 0;
    CHECK(attn__jr_begin_array(&r) && attn__jr_next_element(&r) && attn__jr_string(&r, &s) &&
              attn__jr_next_element(&r) && attn__jr_uint(&r, &v) &&
              attn__jr_next_element(&r) && attn__jr_string(&r, &e) &&
              !attn__jr_next_element(&r) && attn__jr_finish(&r),
          "%s", r.why);
    CHECK(s.len == n && memcmp(s.s, all, n) == 0, "string changed");
    CHECK(v == UINT64_MAX && e.len == 0, "number or empty string changed");
    attn__jr_free(&r);
    attn__jbuf_free(&b);

    io_begin("utf8_valid");
    CHECK(attn__utf8_valid("", 0) && attn__utf8_valid("abc", 3), "ASCII rejected");
    CHECK(!attn__utf8_valid("\xc0\x80", 2) && !attn__utf8_valid("\xed\xa0\x80", 3) &&
              !attn__utf8_valid("\xe2\x82", 2) && !attn__utf8_valid("\xf4\x90\x80\x80", 4),
          "invalid UTF-8 accepted");
}

int main(void) {
    double t0 = io_seconds();
    valid_texts();
    invalid_texts();
    nesting();
    integers();
    walking();
    writer_round_trip();
    return io_finish("test_json", t0);
}
