# Warnings and sanitizers, applied per target so consumers of the installed package inherit
# neither.
function(uffdgc_apply_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
                                           $<$<BOOL:${UFFDGC_WERROR}>:-Werror>)
endfunction()

if(UFFDGC_SANITIZE)
  add_compile_options(-fsanitize=${UFFDGC_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${UFFDGC_SANITIZE})
endif()
