build2/cli/bench_ui.o: cli/bench_ui.c /usr/include/cjson/cJSON.h \
 tui/app.h tui/keys.h tui/layout.h tui/screen.h tui/mtree.h \
 engine/recipe/tree.h engine/base/qt.h engine/model/model.h \
 engine/base/dtype.h tui/source.h tui/widgets.h cli/cli.h \
 engine/io/writer.h
/usr/include/cjson/cJSON.h:
tui/app.h:
tui/keys.h:
tui/layout.h:
tui/screen.h:
tui/mtree.h:
engine/recipe/tree.h:
engine/base/qt.h:
engine/model/model.h:
engine/base/dtype.h:
tui/source.h:
tui/widgets.h:
cli/cli.h:
engine/io/writer.h:
