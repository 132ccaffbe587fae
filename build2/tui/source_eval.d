build2/tui/source_eval.o: tui/source_eval.c tui/source.h \
 engine/model/model.h engine/base/dtype.h engine/base/qt.h
tui/source.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
