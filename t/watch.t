#!/usr/bin/perl

# The watch: conditional requests on id lookups.  Every 200 of an id
# lookup carries a strong ETag, the same in every worker and for a cached
# entry as for upstream's answer; If-None-Match with it gets a 304 and no
# body, from the cache or from upstream.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Test::More;

my $t = CiJobsTest->new(workers => 2, http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        add_header X-Cache $ci_jobs_cache_status always;
        %%CREDENTIALS%%

        location /ci/ {
            ci_jobs on;
            ci_jobs_json auto;
            ci_jobs_cache ci_jobs;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /nocache/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /arrays/ {
            ci_jobs on;
            ci_jobs_json on;
            ci_jobs_json_array JobsDetail NonExistJobIds Stream;
            ci_jobs_cache ci_jobs;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /gzip/ {
            ci_jobs on;
            ci_jobs_json on;
            ci_jobs_cache ci_jobs;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            gzip on;
            gzip_min_length 0;
            gzip_types application/json;
        }
    }
EOF

my @JSON = (Accept => 'application/json');
my $strong = qr/^"[0-9a-f]{16}(?:-j[0-9a-f]{8})?"$/;

# --- ETag -------------------------------------------------------------------

my $miss = $t->get('/ci/jobs/jobsSuccess1');
is($miss->{status}, 200, 'a finished job: 200');
is($miss->{headers}{'x-cache'}, 'MISS', 'from upstream');
like($miss->{headers}{etag} // '', $strong, 'a strong ETag');

my %etags;
for (1 .. 20) {
    my $r = $t->get('/ci/jobs/jobsSuccess1');
    $etags{ $r->{headers}{etag} // '' }++;
    is($r->{headers}{'x-cache'}, 'HIT', 'then from the cache') if $_ == 1;
}
is_deeply([keys %etags], [$miss->{headers}{etag}],
          'the cache and both workers give the same ETag');

my $other = $t->get('/nocache/jobs/jobsSuccess1');
is($other->{headers}{etag}, $miss->{headers}{etag},
   'another location, uncached, the same XML answer: the same ETag');

my $json = $t->get('/ci/jobs/jobsSuccess1', @JSON);
like($json->{headers}{'content-type'}, qr{^application/json}, 'JSON');
like($json->{headers}{etag} // '', $strong, 'a JSON answer: a strong ETag');
isnt($json->{headers}{etag}, $miss->{headers}{etag},
     'not the XML answer\'s');
my $arrays = $t->get('/arrays/jobs/jobsSuccess1');
isnt($arrays->{headers}{etag}, $json->{headers}{etag},
     'another JSON mapping (ci_jobs_json_array): another ETag');

my $two = $t->get('/ci/jobs/jobsSuccess1%2CjobsSuccess2');
isnt($two->{headers}{etag}, $miss->{headers}{etag},
     'another answer, another ETag');

my $missing = $t->get('/ci/jobs/jobsSuccess1%2Cnosuchjob1');
is($missing->{status}, 200, 'an unknown id among them: 200');
like($missing->{headers}{etag} // '', $strong, 'with its ETag');

my $list = $t->get('/ci/jobs?queueId=p893bcda225bf4945a378da6662e81a89'
                   . '&tag=Translation');
is($list->{status}, 200, 'a list page: 200');
ok(!exists $list->{headers}{etag}, 'no ETag: not an id lookup');

my $refused = $t->get('/ci/jobs/bad!id');
is($refused->{status}, 400, 'a refusal');
ok(!exists $refused->{headers}{etag}, 'carries no ETag');

# --- If-None-Match ----------------------------------------------------------

my $etag = $miss->{headers}{etag};

my $hit304 = $t->get('/ci/jobs/jobsSuccess1', 'If-None-Match' => $etag);
is($hit304->{status}, 304, 'If-None-Match with the ETag, a HIT: 304');
is($hit304->{body}, '', 'no body');
is($hit304->{headers}{etag}, $etag, 'the ETag again');
ok(!exists $hit304->{headers}{'content-length'}, 'no Content-Length');
like($hit304->{headers}{'x-ci-request-id'} // '', qr/\S/,
     'x-ci-request-id as on every answer');

$t->forget_upstream_requests;
my $up304 = $t->get('/nocache/jobs/jobsSuccess1', 'If-None-Match' => $etag);
is($up304->{status}, 304, 'from upstream, uncached: 304');
is($up304->{body}, '', 'no body');
is(scalar(() = $t->upstream_requests), 1, 'after asking upstream');

my $keep = join '', map { "GET /nocache/jobs/jobsSuccess1 HTTP/1.1\r\n"
                          . "Host: localhost\r\nIf-None-Match: $etag\r\n"
                          . ($_ == 2 ? "Connection: close\r\n" : '')
                          . "\r\n" } 1 .. 2;
my $raw = $t->raw($keep)->{raw};
is(scalar(() = $raw =~ m{^HTTP/1\.1 304 }mg), 2,
   'two 304s from upstream on one kept-alive connection');

for my $inm ("W/$etag", "\"x\", $etag", '*') {
    is($t->get('/ci/jobs/jobsSuccess1', 'If-None-Match' => $inm)->{status},
       304, "If-None-Match: $inm: 304");
}

for my $inm ('"0000000000000000"', 'junk') {
    my $r = $t->get('/ci/jobs/jobsSuccess1', 'If-None-Match' => $inm);
    is($r->{status}, 200, "If-None-Match: $inm: 200");
    is($r->{body}, $miss->{body}, 'the answer');
}

is($t->get('/ci/jobs/jobsSuccess1', @JSON, 'If-None-Match' => $etag)
       ->{status}, 200, 'the XML answer\'s ETag for the JSON answer: 200');
is($t->get('/ci/jobs/jobsSuccess1', @JSON,
           'If-None-Match' => $json->{headers}{etag})->{status},
   304, 'the JSON answer\'s own: 304');

# gzip makes the ETag weak, as nginx does; the weak one still matches

my $gz = $t->get('/gzip/jobs/jobsSuccess1', 'Accept-Encoding' => 'gzip');
is($gz->{headers}{'content-encoding'}, 'gzip', 'gzip');
like($gz->{headers}{etag} // '', qr{^W/"}, 'a weak ETag');
is($t->get('/gzip/jobs/jobsSuccess1', 'Accept-Encoding' => 'gzip',
           'If-None-Match' => $gz->{headers}{etag})->{status},
   304, 'which gets a 304');

# a changing job: the ETag changes with the answer

my @states = map { $t->get('/nocache/jobs/faultstate') } 1 .. 3;
my ($s1) = $states[0]{body} =~ m{<State>(\w+)</State>};
my ($s3) = $states[2]{body} =~ m{<State>(\w+)</State>};
is("$s1 $s3", 'Submitted Success', 'faultstate: Submitted, then Success');
isnt($states[0]{headers}{etag}, $states[2]{headers}{etag},
     'a new state, a new ETag');
is($t->get('/nocache/jobs/faultstate',
           'If-None-Match' => $states[0]{headers}{etag})->{status},
   200, 'the old ETag: 200');

$t->done;
done_testing;
