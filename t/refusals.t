#!/usr/bin/perl

# Every request that is not one of the five queries is refused with CI's
# error shape, before anything is signed or sent: the emulator must see
# none of them.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Test::More;

my $t = CiJobsTest->new(http => <<'EOF');
    server {
        listen 127.0.0.1:%%PORT%%;

        location /ci/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /limited/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_apis jobs list;
        }

        location /denied/ {
            deny all;
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF

my $q = 'queueId=p893bcda225bf4945a378da6662e81a89&tag=Translation';
my $id65 = 'a' x 65;
my $ids11 = join ',', map { "job$_" } 1 .. 11;

# [ request target, status, code, what ]
my @cases = (
    # unknown APIs and paths
    [ '/ci/', 404, 'NoSuchApi', 'the prefix alone' ],
    [ '/ci/list', 404, 'NoSuchApi', 'no API called list' ],
    [ '/ci/objects/a', 404, 'NoSuchApi', 'an unknown API' ],
    [ '/ci/Jobs/a', 404, 'NoSuchApi', 'API names are case-sensitive' ],
    [ '/ci/workflow/a', 404, 'NoSuchApi', 'another CI API' ],
    [ '/limited/pic_jobs/abc', 404, 'NoSuchApi',
      'an API not in ci_jobs_apis' ],

    # dot segments, encodings, odd characters in the path
    [ '/ci/../ci/jobs/abc', 400, 'InvalidArgument', 'a dot segment' ],
    [ '/ci/jobs/../pic_jobs/abc', 400, 'InvalidArgument',
      'a dot segment below the prefix' ],
    [ '/ci/jobs/./abc', 400, 'InvalidArgument', 'a single-dot segment' ],
    [ '/ci/jobs/%2e%2e/abc', 400, 'InvalidArgument', 'an encoded dot segment' ],
    [ '/ci/jobs%2fabc', 400, 'InvalidArgument', 'an encoded slash' ],
    [ '/ci/jobs/abc%2F..%2Fx', 400, 'InvalidArgument',
      'an encoded slash in an id' ],
    [ '/ci/jobs/%252fabc', 400, 'InvalidArgument', 'double encoding' ],
    [ '/ci/jobs/%61bc', 400, 'InvalidArgument', 'an encoded letter' ],
    [ '/ci/jobs\\abc', 400, 'InvalidArgument', 'a backslash' ],
    [ '/ci/jobs/abc;x=1', 400, 'InvalidArgument', 'a path parameter' ],
    [ '/ci//jobs/abc', 400, 'InvalidArgument', 'an empty segment' ],
    [ '/c%69/jobs/abc', 400, 'InvalidArgument', 'an encoded prefix' ],

    # ids
    [ '/ci/jobs/', 400, 'InvalidArgument', 'no id' ],
    [ '/ci/jobs/abc/', 400, 'InvalidArgument', 'a trailing slash' ],
    [ '/ci/jobs/abc/def', 400, 'InvalidArgument', 'an extra segment' ],
    [ '/ci/jobs/abc,,def', 400, 'InvalidArgument', 'an empty id' ],
    [ '/ci/jobs/abc,', 400, 'InvalidArgument', 'a trailing comma' ],
    [ '/ci/jobs/ab-c', 400, 'InvalidArgument', 'a dash in an id' ],
    [ '/ci/jobs/ab_c', 400, 'InvalidArgument', 'an underscore in an id' ],
    [ '/ci/jobs/%C3%A9', 400, 'InvalidArgument', 'a non-ASCII id' ],
    [ "/ci/jobs/$id65", 400, 'InvalidArgument', 'a 65-character id' ],
    [ "/ci/jobs/$ids11", 400, 'InvalidArgument', '11 ids' ],
    [ '/ci/pic_jobs/a,b', 400, 'InvalidArgument', 'two ids for pic_jobs' ],
    [ '/ci/ai_jobs/', 400, 'InvalidArgument', 'no id for ai_jobs' ],
    [ '/ci/jobs/abc?x=1', 400, 'InvalidArgument',
      'a parameter on an id lookup' ],
    [ '/ci/jobs/' . ('a' x 3000), 400, 'InvalidArgument', 'an overlong URI' ],

    # the list's parameters
    [ '/ci/jobs', 400, 'InvalidArgument', 'a list without parameters' ],
    [ '/ci/jobs?tag=Translation', 400, 'InvalidArgument', 'no queueId' ],
    [ '/ci/jobs?queueId=p1', 400, 'InvalidArgument', 'no tag' ],
    [ "/ci/jobs?$q&foo=1", 400, 'InvalidArgument', 'an unknown parameter' ],
    [ "/ci/jobs?$q&QueueId=p2", 400, 'InvalidArgument',
      'parameter names are case-sensitive' ],
    [ "/ci/jobs?$q&tag=Transcode", 400, 'InvalidArgument',
      'a repeated parameter' ],
    [ "/ci/jobs?$q&size", 400, 'InvalidArgument', 'a parameter without =' ],
    [ "/ci/jobs?$q&&size=1", 400, 'InvalidArgument', 'an empty parameter' ],
    [ "/ci/jobs?queueId=&tag=Translation", 400, 'InvalidArgument',
      'an empty required value' ],
    [ "/ci/jobs?$q&size=0", 400, 'InvalidArgument', 'size 0' ],
    [ "/ci/jobs?$q&size=101", 400, 'InvalidArgument', 'size 101' ],
    [ "/ci/jobs?$q&size=010", 400, 'InvalidArgument', 'size with a zero' ],
    [ "/ci/jobs?$q&size=-1", 400, 'InvalidArgument', 'a negative size' ],
    [ "/ci/jobs?$q&states=Done", 400, 'InvalidArgument', 'an unknown state' ],
    [ "/ci/jobs?$q&states=Success,,Failed", 400, 'InvalidArgument',
      'an empty state' ],
    [ "/ci/jobs?$q&orderByTime=desc", 400, 'InvalidArgument',
      'orderByTime in the wrong case' ],
    [ "/ci/jobs?$q&startCreationTime=2001-01-01", 400, 'InvalidArgument',
      'a date without a time' ],
    [ "/ci/jobs?$q&startCreationTime=2001-13-01T00:00:00%2B0800", 400,
      'InvalidArgument', 'month 13' ],
    [ "/ci/jobs?$q&endCreationTime=2001-01-01T00:00:00Z", 400,
      'InvalidArgument', 'a Z time zone' ],
    [ "/ci/jobs?queueId=p1%0d%0aX-Injected:%201&tag=Translation", 400,
      'InvalidArgument', 'CRLF in a value' ],
    [ "/ci/jobs?queueId=p1%00&tag=Translation", 400, 'InvalidArgument',
      'NUL in a value' ],
    [ "/ci/jobs?$q&inputObject=a%0ab", 400, 'InvalidArgument',
      'LF in inputObject' ],
    [ "/ci/jobs?$q&nextToken=%zz", 400, 'InvalidArgument',
      'a broken escape' ],
    [ "/ci/jobs?$q&inputObject=%FF", 400, 'InvalidArgument',
      'invalid UTF-8' ],
    [ "/ci/jobs?queueId=p1%26tag%3DX&tag=Translation", 400,
      'InvalidArgument', 'an encoded & in queueId' ],
    [ "/ci/jobs?$q&inputObject=" . ('a' x 1025), 400, 'InvalidArgument',
      'a 1025-byte inputObject' ],
);

for my $case (@cases) {
    my ($target, $status, $code, $what) = @$case;
    my $r = $t->get($target);
    is($r->{status}, $status, "$what: $status")
        or diag("$target: $r->{raw}");
    is(CiJobsTest::error_code($r), $code, "$what: $code");
}

# methods
for my $method (qw(POST PUT DELETE HEAD OPTIONS PATCH)) {
    my $r = $t->request($method, '/ci/jobs/abc', 'Content-Length' => 0);
    is($r->{status}, 405, "$method: 405");
    is($r->{headers}{allow}, 'GET', "$method: Allow: GET");
    is(CiJobsTest::error_code($r), 'MethodNotAllowed', "$method: code")
        unless $method eq 'HEAD';
}

# the error shape
my $r = $t->get('/ci/jobs/a,,b');
like($r->{body},
     qr{^<Error><Code>InvalidArgument</Code><Message>[^<]+</Message>
        <RequestId>[0-9a-f]{32}</RequestId></Error>$}x,
     'error shape with $request_id');
is($r->{headers}{'content-type'}, 'application/xml', 'error content type');
is($r->{headers}{'content-length'}, length $r->{body},
   'error content length');

# an access-phase refusal takes the same shape
$r = $t->get('/denied/jobs/abc');
is($r->{status}, 403, 'deny: 403');
is(CiJobsTest::error_code($r), 'AccessDenied', 'deny: AccessDenied');

# raw request lines: absolute form, header injection
$r = $t->raw("GET http://evil.example.com/ci/jobs/a%0d%0aHost:x HTTP/1.1\r\n"
             . "Host: evil.example.com\r\nConnection: close\r\n\r\n");
is($r->{status}, 400, 'absolute form with an encoded CRLF: 400');

# (a raw NUL never gets this far: nginx's own parser refuses it; the
# encoded one is above)

my @seen = $t->upstream_requests;
is(scalar @seen, 0, 'the emulator received none of the refused requests')
    or diag(explain(\@seen));

# and a good request still goes through
$r = $t->get('/limited/jobs/jobsSuccess1');
is($r->{status}, 200, 'a good request after all that: 200');

$t->done;
done_testing;
