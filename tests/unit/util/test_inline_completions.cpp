// InlineCompletions: a completion is kept for its submitter only when it arrives on the
// submitting thread inside the submit of its own key; everything else is the caller's to post.
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "util/inline_completions.hpp"

namespace vstor::util {
namespace {

using Inline = InlineCompletions<int>;

// A front end in miniature: submit() hands command `id` to an "engine" that completes it through
// done(), which keeps it for the submitter or posts it to the "loop" (a queue run later).
struct FrontEnd {
    Inline inline_done;
    std::deque<int> posted;
    std::vector<int> handled;  // in the order the front end handled them
    const void* key(int id) const { return &keys[static_cast<std::size_t>(id)]; }
    char keys[16] = {};

    void done(int id) {
        if (!Inline::keep(key(id), id)) posted.push_back(id);
    }
    template <class Engine>
    void submit(int id, Engine&& engine) {
        {
            Inline::Submitting scope(inline_done, key(id));
            engine();
        }
        inline_done.run([&](int kept) { handled.push_back(kept); });
    }
};

TEST(InlineCompletions, CompletionInsideItsOwnSubmitIsKeptAndHandledAfterIt) {
    FrontEnd fe;
    bool handled_inside = false;
    fe.submit(1, [&] {
        fe.done(1);
        handled_inside = !fe.handled.empty();
        EXPECT_FALSE(fe.inline_done.empty());
    });
    EXPECT_FALSE(handled_inside);  // not re-entered in the middle of submit()
    EXPECT_EQ(fe.handled, std::vector<int>{1});
    EXPECT_TRUE(fe.posted.empty());
    EXPECT_TRUE(fe.inline_done.empty());
}

TEST(InlineCompletions, OutsideAnySubmitTheCallerPosts) {
    FrontEnd fe;
    fe.done(2);
    EXPECT_FALSE(Inline::inside(fe.key(2)));
    EXPECT_EQ(fe.posted, std::deque<int>{2});
    EXPECT_TRUE(fe.inline_done.empty());
}

TEST(InlineCompletions, AnotherKeysCompletionInsideASubmitIsPosted) {
    FrontEnd fe;
    fe.submit(1, [&] {
        fe.done(3);  // e.g. another command the engine finished meanwhile
        fe.done(1);
    });
    EXPECT_EQ(fe.handled, std::vector<int>{1});
    EXPECT_EQ(fe.posted, std::deque<int>{3});
}

TEST(InlineCompletions, AnotherThreadsCompletionIsPostedEvenDuringTheSubmit) {
    FrontEnd fe;
    bool kept_elsewhere = true, inside_elsewhere = true;
    fe.submit(1, [&] {
        std::thread t([&] {
            kept_elsewhere = Inline::keep(fe.key(1), 1);
            inside_elsewhere = Inline::inside(fe.key(1));
        });
        t.join();
        EXPECT_TRUE(Inline::inside(fe.key(1)));
    });
    EXPECT_FALSE(kept_elsewhere);
    EXPECT_FALSE(inside_elsewhere);
    EXPECT_TRUE(fe.handled.empty());
}

TEST(InlineCompletions, NestedScopesNameTheInnermostSubmitAndRestoreTheOuter) {
    FrontEnd fe;
    Inline other;  // a second connection on the same thread
    fe.submit(1, [&] {
        {
            Inline::Submitting inner(other, fe.key(5));
            fe.done(1);  // the outer command, while the thread submits another: posted
            EXPECT_TRUE(Inline::keep(fe.key(5), 5));
        }
        fe.done(1);  // the outer scope again
    });
    EXPECT_EQ(fe.handled, std::vector<int>{1});
    EXPECT_EQ(fe.posted, std::deque<int>{1});
    std::vector<int> others;
    other.run([&](int k) { others.push_back(k); });
    EXPECT_EQ(others, std::vector<int>{5});
    EXPECT_FALSE(Inline::inside(fe.key(1)));
}

TEST(InlineCompletions, RunIsReentrantAndHandlesEachItemOnceInOrder) {
    // One key for several submits (NBD: the connection), run at the end of the turn; handling
    // an item submits the next one (a TRIM's next chunk), which completes inline too.
    Inline q;
    const int conn = 0;
    std::vector<int> handled;
    std::function<void(int)> handle;
    auto submit = [&](int id, bool run_now) {
        {
            Inline::Submitting scope(q, &conn);
            EXPECT_TRUE(Inline::keep(&conn, id));
        }
        if (run_now) q.run(handle);
    };
    handle = [&](int id) {
        handled.push_back(id);
        if (id == 2) submit(20, false);   // handled by the run() already going on
        if (id == 3) submit(30, true);    // a nested run()
        for (int i = 0; id == 4 && i < 100; ++i) submit(100 + i, false);  // items_ grows under run()
    };
    for (int id = 1; id <= 4; ++id) submit(id, false);
    q.run(handle);
    std::vector<int> want{1, 2, 3, 4, 20, 30};
    for (int i = 0; i < 100; ++i) want.push_back(100 + i);
    EXPECT_EQ(handled, want);
    EXPECT_TRUE(q.empty());
    q.run([&](int) { ADD_FAILURE() << "nothing is left to run"; });
}

}  // namespace
}  // namespace vstor::util
